"""Models as safetensors files: the format that holds only tensors and strings, cannot run code,
and that every major library reads.

Layout. For the Dense layer at position ``i`` of ``net.layers``: ``layers.{i}.W`` of shape
(fan_in, fan_out) and ``layers.{i}.b`` of shape (fan_out,), in the model's dtype (F32 or F64);
rows are examples, so ``Z = X @ W + b`` (PyTorch's ``Linear.weight`` is ``W`` transposed). The
header's ``__metadata__`` holds strings: ``format`` (``xpnet-model``), ``format_version``,
``xpnet_version``, and as JSON ``network`` (:meth:`Network.config`), ``preprocessing`` and
``class_names`` (``null`` when absent).

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
from .backend import to_numpy
from .errors import ModelFileError

FORMAT = "xpnet-model"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"


def _library() -> Any:
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
    """The tensor names in :meth:`Network.parameters` order, from the layers' configs."""
    names = []
    for i, cfg in enumerate(layer_configs):
        if isinstance(cfg, dict) and cfg.get("type") == "Dense":
            names += [f"layers.{i}.W", f"layers.{i}.b"]
    return names


def save(net: Any, path: str | Path, estimator: dict[str, Any] | None = None) -> Path:
    """Write ``net``'s parameters and description to ``path`` atomically (with a
    scikit-learn wrapper's ``estimator`` record as JSON in the metadata, when given)."""
    from . import __version__

    lib = _library()
    path = Path(path)
    config = net.config()
    tensors = {}
    for name, p in zip(tensor_names(config["layers"]), net.parameters()):
        a = np.ascontiguousarray(to_numpy(p))
        if not np.all(np.isfinite(a)):
            raise ValueError(f"refusing to save {path}: tensor {name} holds NaN or inf values")
        tensors[name] = a
    metadata = {
        "format": FORMAT, "format_version": str(FORMAT_VERSION), "xpnet_version": __version__,
        "network": json.dumps(config),
        "preprocessing": json.dumps(net.preprocessing.config()
                                    if net.preprocessing is not None else None),
        "class_names": json.dumps(net.class_names),
    }
    if estimator is not None:
        metadata["estimator"] = json.dumps(estimator)
    write_bytes(path, lib.numpy.save(tensors, metadata=metadata))
    return path


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, str]]:
    """The header (as :func:`xpnet.io.read` gives it), the parameters as ``p0, p1, ...`` in
    :meth:`Network.parameters` order, and each one's tensor name for messages."""
    lib = _library()
    path = Path(path)
    try:
        with lib.safe_open(str(path), framework="np") as f:
            metadata = f.metadata()
            arrays = {name: f.get_tensor(name) for name in f.keys()}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except (lib.SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
    if not metadata or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: a safetensors file, but not an xpnet model (its "
                             "__metadata__ has no format 'xpnet-model')")
    version = metadata.get("format_version", "")
    if not version.isdigit():
        raise ModelFileError(f"{path}: corrupt model metadata (format_version {version!r})")
    if int(version) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer xpnet ({metadata.get('xpnet_version')}, model format "
            f"{version}); this xpnet reads format {FORMAT_VERSION}: upgrade xpnet")
    header: dict[str, Any] = {"format": FORMAT, "format_version": int(version),
                              "xpnet_version": metadata.get("xpnet_version"), "training": None}
    for key in ("network", "preprocessing", "class_names"):
        try:
            header[key] = json.loads(metadata[key])
        except KeyError:
            raise ModelFileError(f"{path}: the model metadata has no {key!r}") from None
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{path}: corrupt {key!r} in the model metadata ({exc})") \
                from None
    if "estimator" in metadata:
        try:
            header["estimator"] = json.loads(metadata["estimator"])
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{path}: corrupt 'estimator' in the model metadata ({exc})") \
                from None
    layers = header["network"].get("layers") if isinstance(header["network"], dict) else None
    if not isinstance(layers, list):
        raise ModelFileError(f"{path}: the model metadata describes no layers")
    names = tensor_names(layers)
    unexpected = sorted(set(arrays) - set(names))
    if unexpected:
        raise ModelFileError(f"{path}: tensor {unexpected[0]!r} is not part of the architecture "
                             f"(expected {', '.join(names)})")
    params, shown = {}, {}
    for k, name in enumerate(names):
        if name not in arrays:
            raise ModelFileError(f"{path}: tensor {name!r} is missing")
        params[f"p{k}"], shown[f"p{k}"] = arrays[name], f"tensor {name}"
    return header, params, shown
