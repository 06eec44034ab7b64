"""Model and checkpoint files: one ``.npz`` file of plain arrays plus a JSON header, never
pickle; or, for models, a ``.safetensors`` file
([`xpnet.safetensors_file`][xpnet.safetensors_file]). This module writes and reads the files;
[`xpnet.load`][xpnet.loading.load] builds a Network from what it reads.

The header (stored as the UTF-8 bytes of a uint8 array named ``header``) records the format and
its version, the xpnet version, the architecture and cost, the dtype, the input preprocessing,
the class names and, for a checkpoint, the training state. Parameters are ``p0, p1, ...`` in
[`Network.parameters`][xpnet.network.Network.parameters] order; optimizer state arrays are
``opt.<slot>.<parameter>``. Files are written to a temporary file beside the target and renamed into
place, so a crash mid-write leaves the previous file intact. Loading uses ``allow_pickle=False`` and
checks every shape against the header, so a file that is not what it claims is refused with
[`ModelFileError`][xpnet.errors.ModelFileError].
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import safetensors_file
from .atomic import atomic_write
from .backend import to_numpy
from .errors import ModelFileError
from .model import Model

if TYPE_CHECKING:
    from .preprocess import Scaler



class Saved(Model, Protocol):
    """What a model file records beside the [`Model`][xpnet.model.Model]'s parameters and
    architecture: the input preprocessing, the class names and the data it was trained on (the
    command line's dataset and test split, so that ``xpnet evaluate`` scores the rows training
    held out); None when absent."""

    preprocessing: Scaler | None
    class_names: list[str] | None
    training_data: dict[str, Any] | None


FORMAT = "xpnet-model"
FORMAT_VERSION = 1


def save(net: Saved, path: str | Path, *, training: dict[str, Any] | None = None,
         extra_arrays: dict[str, Any] | None = None,
         estimator: dict[str, Any] | None = None) -> Path:
    """Write ``net`` (and, for a checkpoint, ``training`` state and ``extra_arrays``) to
    ``path`` atomically: a ``.safetensors`` file when the name ends so, else ``.npz``.
    ``estimator`` (plain JSON values) records a scikit-learn wrapper's settings.
    Refuses parameters that are NaN or infinite."""
    from . import __version__

    path = Path(path)
    params = [to_numpy(p) for p in net.named_parameters().values()]
    for i, a in enumerate(params):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"refusing to save {path}: parameter p{i} holds NaN or inf values")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xpnet_version": __version__,
        "network": net.config(),
        "preprocessing": net.preprocessing.config() if net.preprocessing is not None else None,
        "class_names": net.class_names,
        "training_data": net.training_data,
        "estimator": estimator,
    }
    if path.suffix == safetensors_file.SUFFIX:
        if training is not None or extra_arrays:
            raise ValueError(f"{path}: checkpoints hold training state and are .npz files; "
                             "save models as .safetensors")
        safetensors_file.write(path, params, header)
        return path
    header["training"] = training
    arrays = {f"p{i}": a for i, a in enumerate(params)}
    for name, a in (extra_arrays or {}).items():
        arrays[name] = to_numpy(a)
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # (numpy's stub: an array named
        # "allow_pickle" would collide; ours are named p0.., opt.*, header)
    return path


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and all arrays of a model file, validated as far as the format goes."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if magic != b"PK\x03\x04":   # an .npz is a zip archive
        kind = ("an ONNX model, for inference runtimes (ONNX Runtime); evaluate the .npz or "
                ".safetensors it was exported from" if path.suffix.lower() == ".onnx"
                else "neither .npz nor .safetensors")
        raise ModelFileError(f"{path}: not a readable xpnet model file ({kind})")
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
    _check_header(path, header)
    return header, arrays


def _check_header(path: str | Path, header: Any) -> None:
    """A header of xpnet's model format, in a version this xpnet reads."""
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


def read_any(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, str]]:
    """The header and arrays of a model file of either format (told apart by content), the
    parameters as ``p0, p1, ...``, with the name each one has in the file, for messages."""
    if safetensors_file.is_safetensors(path):
        header, tensors = safetensors_file.read(path)
        _check_header(path, header)
        return (header, *safetensors_file.by_parameter(path, header, tensors))
    header, arrays = read(path)
    return header, arrays, {}


def parameters(path: str | Path, arrays: dict[str, np.ndarray], shown: dict[str, str],
               like: list[Any]) -> list[np.ndarray]:
    """The parameter arrays ``p0, p1, ...`` taken out of ``arrays``, each checked against the
    shape of its counterpart in ``like`` (the architecture's), float, and finite."""
    params = []
    for i, expected in enumerate(like):
        name = shown.get(f"p{i}", f"parameter p{i}")
        a = arrays.get(f"p{i}")
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
    return params
