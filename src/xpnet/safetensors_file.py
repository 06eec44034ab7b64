"""Models as safetensors files: the format that holds only tensors and strings, cannot run code,
and that every major library reads.

Layout. For the Dense layer at position ``i`` of ``net.layers``: ``layers.{i}.W`` of shape
(fan_in, fan_out) and ``layers.{i}.b`` of shape (fan_out,), in the model's dtype (F32 or F64);
rows are examples, so ``Z = X @ W + b`` (PyTorch's ``Linear.weight`` is ``W`` transposed). The
header's ``__metadata__`` holds strings: ``format`` (``xpnet-model``), ``format_version``,
``xpnet_version``, and as JSON ``network`` ([`Network.config`][xpnet.network.Network.config]),
``preprocessing`` and ``class_names`` (``null`` when absent).

The safetensors library (``pip install "xpnet[safetensors]"``) writes and parses the files and
refuses malformed headers (truncated, oversized, offsets outside the data or overlapping,
unknown dtypes); xpnet then checks the metadata and the tensors against the architecture, and
loads nothing unless everything agrees. Checkpoints stay ``.npz`` (they hold training state).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_bytes
from .errors import ModelFileError

SUFFIX = ".safetensors"


def library() -> Any:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError('safetensors files need the safetensors library: '
                          'pip install "xpnet[safetensors]"') from None
    return safetensors


def is_safetensors(path: str | Path) -> bool:
    """Whether ``path`` names a safetensors file: its suffix, or its first bytes (an 8-byte
    little-endian header length followed by the JSON header's ``{``)."""
    path = Path(path)
    if path.suffix == SUFFIX:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1


def tensor_names(layer_configs: list[dict[str, Any]]) -> list[str]:
    """The tensor names in [`Network.parameters`][xpnet.network.Network.parameters] order, from the
    layers' configs."""
    names = []
    for i, cfg in enumerate(layer_configs):
        if isinstance(cfg, dict) and cfg.get("type") == "Dense":
            names += [f"layers.{i}.W", f"layers.{i}.b"]
    return names


# the header's fields written as plain strings; the others are JSON
_PLAIN = ("format", "xpnet_version")


def write(path: Path, params: list[np.ndarray], header: dict[str, Any]) -> None:
    """Write the parameters (host arrays, in
    [`Network.parameters`][xpnet.network.Network.parameters] order) under their layer names, and
    ``header`` ([`xpnet.io.save`][xpnet.io.save]'s) as the metadata, atomically."""
    lib = library()
    tensors = {name: np.ascontiguousarray(a)
               for name, a in zip(tensor_names(header["network"]["layers"]), params)}
    metadata = {key: value if key in _PLAIN else str(value) if key == "format_version"
                else json.dumps(value) for key, value in header.items()
                if value is not None or key in ("preprocessing", "class_names")}
    write_bytes(path, lib.numpy.save(tensors, metadata=metadata))


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header (as [`xpnet.io.read`][xpnet.io.read] gives it, unchecked) and the tensors by name;
    a file the safetensors library cannot parse is refused here."""
    lib = library()
    path = Path(path)
    try:
        with lib.safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except (lib.SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
    header: dict[str, Any] = {"training": None}
    for key, text in metadata.items():
        if key in _PLAIN:
            header[key] = text
        elif key == "format_version":
            header[key] = int(text) if text.isdigit() else text
        else:
            try:
                header[key] = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ModelFileError(f"{path}: corrupt {key!r} in the model metadata ({exc})") \
                    from None
    return header, tensors


def by_parameter(path: str | Path, header: dict[str, Any], tensors: dict[str, np.ndarray]
                 ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors as ``p0, p1, ...`` in [`Network.parameters`][xpnet.network.Network.parameters]
    order, each with its tensor name for messages; refuses tensors missing or beyond the
    architecture."""
    network = header.get("network")
    layers = network.get("layers") if isinstance(network, dict) else None
    if not isinstance(layers, list):
        raise ModelFileError(f"{path}: the model metadata describes no layers")
    names = tensor_names(layers)
    unexpected = sorted(set(tensors) - set(names))
    if unexpected:
        raise ModelFileError(f"{path}: tensor {unexpected[0]!r} is not part of the architecture "
                             f"(expected {', '.join(names)})")
    params, shown = {}, {}
    for k, name in enumerate(names):
        if name not in tensors:
            raise ModelFileError(f"{path}: tensor {name!r} is missing")
        params[f"p{k}"], shown[f"p{k}"] = tensors[name], f"tensor {name}"
    return params, shown
