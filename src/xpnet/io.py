"""Saving and loading models and checkpoints: one ``.npz`` file of plain arrays plus a JSON
header, never pickle; or, for models, a ``.safetensors`` file (:mod:`xpnet.safetensors_file`).

The header (stored as the UTF-8 bytes of a uint8 array named ``header``) records the format and
its version, the xpnet version, the architecture and cost, the dtype, the input preprocessing,
the class names and, for a checkpoint, the training state. Parameters are ``p0, p1, ...`` in
:meth:`Network.parameters` order; optimizer state arrays are ``opt.<name>.<i>``. Files are written
to a temporary file beside the target and renamed into place, so a crash mid-write leaves the
previous file intact. Loading uses ``allow_pickle=False`` and checks every shape against the
header, so a file that is not what it claims is refused with :class:`ModelFileError`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import safetensors_file
from .atomic import atomic_write
from .backend import Backend, BackendError, to_numpy
from .errors import ModelFileError
from .network import Network

FORMAT = "xpnet-model"
FORMAT_VERSION = 1


def save(net: Network, path: str | Path, *, training: dict[str, Any] | None = None,
         extra_arrays: dict[str, Any] | None = None,
         estimator: dict[str, Any] | None = None) -> Path:
    """Write ``net`` (and, for a checkpoint, ``training`` state and ``extra_arrays``) to
    ``path`` atomically: a ``.safetensors`` file when the name ends so, else ``.npz``.
    ``estimator`` (plain JSON values) records a scikit-learn wrapper's settings.
    Refuses parameters that are NaN or infinite."""
    from . import __version__

    path = Path(path)
    if path.suffix == safetensors_file.SUFFIX:
        if training is not None or extra_arrays:
            raise ValueError(f"{path}: checkpoints hold training state and are .npz files; "
                             "save models as .safetensors")
        return safetensors_file.save(net, path, estimator)
    arrays = {f"p{i}": to_numpy(p) for i, p in enumerate(net.parameters())}
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError(f"refusing to save {path}: parameter {name} holds NaN or inf values")
    for name, a in (extra_arrays or {}).items():
        arrays[name] = to_numpy(a)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xpnet_version": __version__,
        "network": net.config(),
        "preprocessing": net.preprocessing.config() if net.preprocessing is not None else None,
        "class_names": net.class_names,
        "training": training,
        "estimator": estimator,
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # (numpy's stub: an array named
        # "allow_pickle" would collide; ours are named p0.., opt.*, header)
    return path


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and all arrays of a model file, validated as far as the format goes."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable xpnet model file ({exc})") from None
    raw = arrays.pop("header", None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: not an xpnet model file (no header)")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupt model header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an xpnet model file (format {header.get('format')!r})"
                             if isinstance(header, dict) else f"{path}: corrupt model header")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: corrupt model header (format_version {version!r})")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer xpnet ({header.get('xpnet_version')}, model format "
            f"{version}); this xpnet reads format {FORMAT_VERSION}: upgrade xpnet"
        )
    return header, arrays


def load(path: str | Path, backend: str | Backend = "auto", device: Any = None,
         dtype: str | None = None) -> Network:
    """A network saved by :func:`save` (``.npz`` or ``.safetensors``, told apart by content),
    on any backend/device, in its saved dtype or ``dtype``."""
    return load_with_state(path, backend, device, dtype)[0]


def load_with_state(path: str | Path, backend: str | Backend = "auto", device: Any = None,
                    dtype: str | None = None
                    ) -> tuple[Network, dict[str, Any] | None, dict[str, np.ndarray]]:
    """Like :func:`load`, also returning the training state and the extra arrays."""
    net, header, arrays = _load(path, backend, device, dtype)
    return net, header.get("training"), arrays


def load_with_header(path: str | Path, backend: str | Backend = "auto", device: Any = None,
                     dtype: str | None = None) -> tuple[Network, dict[str, Any]]:
    """Like :func:`load`, also returning the file's header (its ``estimator`` record, say)."""
    net, header, _ = _load(path, backend, device, dtype)
    return net, header


def _load(path: str | Path, backend: str | Backend, device: Any, dtype: str | None
          ) -> tuple[Network, dict[str, Any], dict[str, np.ndarray]]:
    from .preprocess import Scaler

    if safetensors_file.is_safetensors(path):
        header, arrays, shown = safetensors_file.read(path)
    else:
        header, arrays = read(path)
        shown = {}
    try:
        net = Network.from_config(header["network"], backend=backend, device=device, dtype=dtype)
    except BackendError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{path}: invalid architecture in model header ({exc})") from None
    params = []
    for i, expected in enumerate(net.parameters()):
        name = shown.get(f"p{i}", f"parameter p{i}")
        a = arrays.pop(f"p{i}", None)
        if a is None:
            raise ModelFileError(f"{path}: {name} is missing")
        if a.shape != tuple(expected.shape) or a.dtype.kind != "f":
            raise ModelFileError(
                f"{path}: {name} is {a.dtype} {a.shape}, the header's architecture "
                f"needs float {tuple(expected.shape)}"
            )
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{path}: {name} holds NaN or inf values")
        params.append(a)
    net.set_parameters(params)
    try:
        if header.get("preprocessing"):
            net.preprocessing = Scaler.from_config(header["preprocessing"])
        names = header.get("class_names")
        net.class_names = [str(n) for n in names] if names is not None else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid preprocessing or class names ({exc})") from None
    return net, header, arrays
