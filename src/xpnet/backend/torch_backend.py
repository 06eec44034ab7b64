"""PyTorch tensors on the CPU or a CUDA GPU, and the one backend that compiles a whole step
(``torch.compile``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

from .base import Backend, BackendError


class TorchBackend(Backend):
    """PyTorch tensors on the CPU or a CUDA GPU."""

    name, module = "torch", "torch"
    compiles = True
    low_precision = ("bfloat16", "float16")
    install = "install PyTorch: pip install 'xpnet[torch]'"

    @classmethod
    def create(cls, device: Any = None) -> Backend:
        torch = cls._library()
        try:
            dev = torch.device(device if device is not None else "cpu")
        except (RuntimeError, TypeError) as exc:
            raise BackendError(f"invalid torch device {device!r}: {exc}") from None
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise BackendError("torch is installed but sees no CUDA device; use device='cpu'")
            if dev.index is None:
                dev = torch.device("cuda", torch.cuda.current_device())
            if dev.index >= torch.cuda.device_count():
                raise BackendError(f"CUDA device {dev.index} does not exist for torch")
        elif dev.type != "cpu":
            raise BackendError(
                f"xpnet supports torch devices 'cpu' and 'cuda:N', not {device!r}")
        from array_api_compat import torch as xp

        return cls(xp, dev, torch)

    @property
    def is_gpu(self) -> bool:
        return self.device.type == "cuda"

    def synchronize(self) -> None:
        if self.is_gpu:
            self.lib.cuda.synchronize(self.device)

    def make_current(self) -> None:
        if self.is_gpu:
            self.lib.cuda.set_device(self.device)

    def tf32(self) -> str:
        """From PyTorch's ``fp32_precision`` settings (``"tf32"`` on, ``"ieee"`` off, ``"none"``
        inherited from the level above: CUDA's, then the global one), the legacy
        ``allow_tf32`` flag only where none is set: once the new API has set one, reading the
        legacy flag raises ("mix of the legacy and new APIs")."""
        if not self.is_gpu:
            return "n/a"
        backends = self.lib.backends
        matmul = backends.cuda.matmul
        for level in (matmul, backends.cuda, backends):
            precision = getattr(level, "fp32_precision", "none")
            if precision != "none":
                return "on" if precision == "tf32" else "off"
        return "on" if matmul.allow_tf32 else "off"

    def describe(self) -> str:
        if self.is_gpu:
            return f"torch ({self.device}, {self.lib.cuda.get_device_name(self.device)})"
        return super().describe()

    def devices(self) -> list[str]:
        cuda = self.lib.cuda
        return ["cpu"] + ([f"cuda:{i}" for i in range(cuda.device_count())]
                          if cuda.is_available() else [])

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``torch.compile`` of the whole step: forward, backward and update in one graph
        (TorchInductor's kernels on the CPU; on CUDA, CUDA graphs are another option to
        measure there). The first call compiles, for seconds; later calls reuse it, and
        TorchInductor caches compilations on disk across processes."""
        return self.lib.compile(fn)

    def device_random(self, seed: int) -> Any:
        rng = self.lib.Generator(device=self.device)
        rng.manual_seed(seed)
        return rng

    def device_uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.lib.rand(shape, generator=rng, device=self.device, dtype=dtype)

    @staticmethod
    def gpu_of(x: Any) -> Any:
        return x.device if x.device.type == "cuda" else None

    @staticmethod
    def holds(x: Any) -> bool:
        return array_api_compat.is_torch_array(x)

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        return x.detach().cpu().numpy()
