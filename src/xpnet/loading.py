"""Networks rebuilt from model files: the architecture, the parameters, and what the file keeps
beside them (input scaling, class names, the data trained on), on any backend and device.
[`xpnet.io`][xpnet.io] reads and writes the files; this module turns what it reads into a
[`xpnet.Network`][xpnet.network.Network]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import io
from .backend import Backend, BackendError
from .errors import ModelFileError
from .network import Network


def load(path: str | Path, backend: str | Backend = "auto", device: Any = None,
         dtype: str | None = None, precision: str | None = None) -> Network:
    """A network saved by [`xpnet.io.save`][xpnet.io.save] (``.npz`` or ``.safetensors``, told apart
    by content), on any backend/device, in its saved dtype or ``dtype``, and its saved precision
    policy or ``precision`` (a mixed policy needs a backend that has its compute dtype:
    ``precision="32"`` runs a bf16-mixed model on NumPy)."""
    net, header, _ = _load(path, backend, device, dtype, precision)
    return net


def load_with_state(path: str | Path, backend: str | Backend = "auto", device: Any = None,
                    dtype: str | None = None
                    ) -> tuple[Network, dict[str, Any] | None, dict[str, Any]]:
    """Like [`load`][xpnet.loading.load], also returning the training state and the extra arrays."""
    net, header, arrays = _load(path, backend, device, dtype)
    return net, header.get("training"), arrays


def load_with_header(path: str | Path, backend: str | Backend = "auto", device: Any = None,
                     dtype: str | None = None) -> tuple[Network, dict[str, Any]]:
    """Like [`load`][xpnet.loading.load], also returning the file's header (its ``estimator``
    record, say)."""
    net, header, _ = _load(path, backend, device, dtype)
    return net, header


def _load(path: str | Path, backend: str | Backend, device: Any, dtype: str | None,
          precision: str | None = None) -> tuple[Network, dict[str, Any], dict[str, Any]]:
    header, arrays, shown = io.read_any(path)
    net = from_contents(path, header, arrays, shown, backend, device, dtype, precision)
    return net, header, arrays


def from_contents(path: str | Path, header: dict[str, Any], arrays: dict[str, Any],
                  shown: dict[str, str], backend: str | Backend = "auto", device: Any = None,
                  dtype: str | None = None, precision: str | None = None) -> Network:
    """The network a file's contents describe ([`xpnet.io.read_any`][xpnet.io.read_any]'s header,
    arrays and shown names), for a caller that has read the file already (a resumed run)."""
    from .preprocess import Scaler

    try:
        net = Network.from_config(header["network"], backend=backend, device=device, dtype=dtype,
                                  precision=precision)
    except BackendError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{path}: invalid architecture in model header ({exc})") from None
    net.set_parameters(io.parameters(path, arrays, shown, net.parameters()))
    try:
        if header.get("preprocessing"):
            net.preprocessing = Scaler.from_config(header["preprocessing"])
        names = header.get("class_names")
        net.class_names = [str(n) for n in names] if names is not None else None
        record = header.get("training_data")
        net.training_data = dict(record) if isinstance(record, dict) else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid preprocessing or class names ({exc})") from None
    return net
