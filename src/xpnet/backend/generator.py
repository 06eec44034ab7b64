"""Random numbers for one network or one fit, the same on every backend for a given seed."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class DrawsOnADevice(Protocol):
    """What a generator asks of its backend ([`xpnet.backend.Backend`][xpnet.backend.base.Backend]
    has it all)."""

    xp: Any
    device: Any

    @property
    def is_gpu(self) -> bool: ...

    def device_random(self, seed: int) -> Any: ...

    def device_uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any: ...


class Generator:
    """Random numbers for one network or one fit.

    Initial weights and shuffling orders are drawn on the host from a NumPy ``Generator`` and
    moved once, so a given seed gives the same weights and batches on every backend. Per-step
    draws (dropout masks) use [`uniform`][xpnet.backend.generator.Generator.uniform]: on CPU
    backends they come from the same host generator, so they too are identical across NumPy,
    PyTorch-CPU and array-api-strict; on a GPU they come from the device's own generator
    ([`Backend.device_random`][xpnet.backend.base.Backend.device_random], seeded from the host one)
    so that no host-to-device copy happens inside a training step.
    """

    def __init__(self, backend: DrawsOnADevice, seed: Any = None):
        self.backend = backend
        self.host = np.random.default_rng(seed)
        self._device_rng: Any = None

    def permutation(self, n: int, on_host: bool = False) -> Any:
        """A random permutation of ``range(n)``, drawn on the host, as a device index array
        (or, ``on_host``, the NumPy array itself: the same draw)."""
        perm = self.host.permutation(n)
        return perm if on_host else self.backend.xp.asarray(perm, device=self.backend.device)

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Draws from U[0, 1) of the given dtype on the backend's device."""
        be = self.backend
        if not be.is_gpu:
            draw = self.host.random(size=shape, dtype=np.float64)
            return be.xp.asarray(draw, dtype=dtype, device=be.device)
        if self._device_rng is None:
            self._device_rng = be.device_random(int(self.host.integers(2**63 - 1)))
        return be.device_uniform(self._device_rng, shape, dtype)

    def reseed(self, seed: Any) -> None:
        """Start afresh from ``seed`` (anything ``numpy.random.default_rng`` takes)."""
        self.host = np.random.default_rng(seed)
        self._device_rng = None

    # The host generator's state is plain JSON, which is what checkpoints store.
    def get_state(self) -> dict[str, Any]:
        return dict(self.host.bit_generator.state)

    def set_state(self, state: dict) -> None:
        self.host.bit_generator.state = state
        self._device_rng = None
