"""Communicators for data-parallel training: a single process, MPI (mpi4py) or NCCL (CuPy).

The fit loop sees only [`Communicator`][xpnet.comm.Communicator]: ``rank``, ``size``,
``allreduce_sum`` of one flat array, ``broadcast`` of one flat array from rank 0, ``allreduce_host``
of a few host floats, and ``abort``. Data parallelism in the standard form sits on top
(``xpnet.train``): rank 0's initial parameters are broadcast, every global batch is split across the
ranks, each rank's gradients are packed into one flat buffer, summed with one all-reduce per step,
and every rank applies the same update.

* [`Single`][xpnet.comm.Single] — one process; every operation is the identity.
* [`MPI`][xpnet.comm.MPI] — ``mpi4py``'s ``Allreduce``/``Bcast`` on contiguous buffers. Host arrays
  (NumPy, PyTorch-CPU) are reduced in place; device arrays go through the host unless the MPI build
  is CUDA-aware and ``XPNET_MPI_CUDA_AWARE=1`` says so, in which case CuPy buffers are passed
  directly.
* [`NCCL`][xpnet.comm.NCCL] — ``cupyx.distributed`` (NCCL), one process per GPU; the rank and world
  size come from the MPI launcher's environment or from ``RANK``/``WORLD_SIZE``, and the rendezvous
  from ``CUPYX_DISTRIBUTED_HOST``/``CUPYX_DISTRIBUTED_PORT`` as cupyx.distributed documents.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

import numpy as np

from .backend import Backend, BackendError, gpu_count, resolve, to_numpy

Array = Any


class Communicator:
    """The collective operations the training loop needs."""

    rank = 0
    size = 1
    name = "single"

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allreduce_sum(self, backend: Backend, buf: Array) -> Array:
        """The element-wise sum of ``buf`` over all ranks (every rank gets the result)."""
        return buf

    def broadcast(self, backend: Backend, buf: Array) -> Array:
        """Rank 0's ``buf`` on every rank."""
        return buf

    def allreduce_host(self, values: list[float]) -> list[float]:
        """Sums of a few host numbers over all ranks (per-epoch statistics)."""
        return list(values)

    def abort(self, code: int = 1) -> None:
        """Stop every rank (used when one rank fails, so the others never wait forever)."""

    def describe(self) -> str:
        return f"{self.name}, rank {self.rank} of {self.size}"


class Single(Communicator):
    """One process: nothing to communicate."""


class MPI(Communicator):
    """MPI through mpi4py (``pip install "xpnet[mpi]"``; launch with ``mpiexec -n N``)."""

    name = "mpi"

    def __init__(self, comm: Any = None):
        try:
            from mpi4py import MPI as _MPI
        except ImportError as exc:
            raise BackendError(
                f"distributed training over MPI needs mpi4py ({exc}); install it with: "
                'pip install "xpnet[mpi]" (or build mpi4py against your cluster\'s MPI)'
            ) from None
        except (RuntimeError, OSError) as exc:   # mpi4py 4 without an MPI library to load
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(
                f"mpi4py is installed but cannot load an MPI library ({first}); install one "
                'with: pip install "xpnet[mpi]" (MPICH), or point mpi4py at your cluster\'s MPI'
            ) from None
        self._MPI = _MPI
        self.comm = comm if comm is not None else _MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.cuda_aware = os.environ.get("XPNET_MPI_CUDA_AWARE") == "1"

    def _host_or_device(self, backend: Backend, buf: Array) -> tuple[Any, bool]:
        if self.cuda_aware and hasattr(buf, "__cuda_array_interface__"):
            backend.synchronize()   # MPI must not read the buffer before the kernels finish
            return buf, False
        return np.ascontiguousarray(to_numpy(buf)), True

    def allreduce_sum(self, backend: Backend, buf: Array) -> Array:
        data, copied = self._host_or_device(backend, buf)
        self.comm.Allreduce(self._MPI.IN_PLACE, data, op=self._MPI.SUM)
        return backend.asarray(data, buf.dtype) if copied else data

    def broadcast(self, backend: Backend, buf: Array) -> Array:
        data, copied = self._host_or_device(backend, buf)
        self.comm.Bcast(data, root=0)
        return backend.asarray(data, buf.dtype) if copied else data

    def allreduce_host(self, values: list[float]) -> list[float]:
        data = np.asarray(values, dtype=np.float64)
        self.comm.Allreduce(self._MPI.IN_PLACE, data, op=self._MPI.SUM)
        return data.tolist()

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)


def launcher_rank() -> tuple[int, int] | None:
    """(rank, size) from the environment of an MPI launcher or of torchrun-style variables."""
    for rank_var, size_var in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                               ("PMI_RANK", "PMI_SIZE"), ("PMIX_RANK", "PMIX_SIZE"),
                               ("RANK", "WORLD_SIZE")):
        if rank_var in os.environ and size_var in os.environ:
            return int(os.environ[rank_var]), int(os.environ[size_var])
    return None


class NCCL(Communicator):
    """NCCL through ``cupyx.distributed``: one process per GPU, CuPy arrays reduced on the GPU.

    ``device`` is the GPU this rank uses (by default GPU ``rank % count`` of its host). Rank 0
    runs cupyx's rendezvous server, a process that loops until it is stopped and would keep
    the program from exiting: it is stopped (cupyx's public ``stop``) at exit, before an abort,
    and when NCCL refuses to start (two ranks on one GPU, say), which is then one
    [`BackendError`][xpnet.backend.base.BackendError] line on every rank instead of a hang.
    """

    name = "nccl"

    def __init__(self, rank: int | None = None, size: int | None = None, device: Any = None):
        try:
            import cupyx.distributed
        except ImportError as exc:
            raise BackendError(
                f"distributed training over NCCL needs CuPy ({exc}); install it with: "
                'pip install "xpnet[gpu]"'
            ) from None
        if rank is None or size is None:
            found = launcher_rank()
            if found is None:
                raise BackendError("NCCL needs a rank and world size: start with mpiexec, or "
                                   "set RANK and WORLD_SIZE")
            rank, size = found
        self.rank, self.size = rank, size
        n_local = gpu_count()
        if n_local == 0:
            raise BackendError("NCCL needs a CUDA device, and this machine has none")
        # one GPU per process: the one asked for, else round-robin over the host's GPUs
        self.backend = resolve("cupy", rank % n_local if device is None else device)
        self.backend.make_current()
        self.comm = start_process_group(cupyx.distributed, size, rank,
                                        self.backend.device_name)
        self.stopped = False
        atexit.register(self.close)

    def close(self) -> None:
        """Stop rank 0's rendezvous server (at exit, and before an abort); calling it again
        does nothing."""
        if not self.stopped:
            self.stopped = True
            self.comm.stop()

    def allreduce_sum(self, backend: Backend, buf: Array) -> Array:
        out = backend.xp.empty_like(buf)
        self.comm.all_reduce(buf, out, op="sum")
        return out

    def broadcast(self, backend: Backend, buf: Array) -> Array:
        self.comm.broadcast(buf, 0)
        return buf

    def allreduce_host(self, values: list[float]) -> list[float]:
        be = self.backend
        data = be.asarray(np.asarray(values, dtype=np.float64))
        out = be.xp.empty_like(data)
        self.comm.all_reduce(data, out, op="sum")
        return to_numpy(out).tolist()

    def abort(self, code: int = 1) -> None:
        self.close()
        os._exit(code)   # NCCL has no global abort; the launcher ends the other ranks


def start_process_group(distributed: Any, size: int, rank: int, where: str) -> Any:
    """``cupyx.distributed``'s NCCL communicator for ``rank`` of ``size``, with the rendezvous
    from ``CUPYX_DISTRIBUTED_HOST``/``CUPYX_DISTRIBUTED_PORT`` as ``init_process_group`` reads
    them. Rank 0 starts the rendezvous server before NCCL starts; when NCCL then refuses, the
    server is stopped through the communicator's public ``stop`` and the refusal becomes one
    [`BackendError`][xpnet.backend.base.BackendError] line (``where`` names this rank's device in
    it)."""

    class Stoppable(distributed.NCCLBackend):   # keeps a half-made communicator to stop
        def __init__(self, *args: Any, **kwargs: Any):
            try:
                super().__init__(*args, **kwargs)
            except BaseException:
                try:
                    self.stop()
                except Exception:   # it failed before rank 0's server existed
                    pass
                raise

    rendezvous: dict[str, Any] = {}
    if os.environ.get("CUPYX_DISTRIBUTED_HOST"):
        rendezvous["host"] = os.environ["CUPYX_DISTRIBUTED_HOST"]
    if os.environ.get("CUPYX_DISTRIBUTED_PORT"):
        rendezvous["port"] = int(os.environ["CUPYX_DISTRIBUTED_PORT"])
    try:
        return Stoppable(size, rank, **rendezvous)
    except RuntimeError as exc:   # cupy's NcclError, or "NCCL is not available"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackendError(
            f"NCCL refused to start rank {rank} of {size} on {where} ({first}); NCCL takes "
            "one GPU per rank: give each rank its own GPU (--device, or as many GPUs as ranks), "
            "or use --distributed mpi") from None


def get(kind: str | Communicator | None, device: Any = None) -> Communicator:
    """A communicator: ``None``/``"single"``, ``"mpi"``, ``"nccl"`` (on GPU ``device``, by
    default the rank's own), or an instance as is."""
    if isinstance(kind, Communicator):
        return kind
    if kind in (None, "single", "none"):
        return Single()
    if kind == "mpi":
        return MPI()
    if kind == "nccl":
        return NCCL(device=device)
    raise ValueError(f"unknown communicator {kind!r}; valid: single, mpi, nccl")


# ------------------------------------------------------------------ packing parameters
def pack(xp: Any, arrays: list[Array]) -> Array:
    """All arrays, flattened into one contiguous buffer (one all-reduce per step)."""
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def unpack(xp: Any, flat: Array, like: list[Array]) -> list[Array]:
    """The inverse of [`pack`][xpnet.comm.pack]: arrays shaped like ``like``."""
    out, start = [], 0
    for a in like:
        n = int(np.prod(a.shape))
        out.append(xp.reshape(flat[start:start + n], tuple(a.shape)))
        start += n
    return out


def averaging(comm: Communicator, backend: Backend) -> Any:
    """The per-step reduction of data parallelism: this rank's gradients (by parameter name)
    and cost, already weighted by its share of the global batch ([`xpnet.step`][xpnet.step]), summed
    over the ranks in one all-reduce of one flat buffer. The result is the gradient and cost
    of the global batch, as one process would compute them (up to summation order)."""
    xp = backend.xp

    def reduce(grads: dict[str, Array], C: Array) -> tuple[dict[str, Array], Array]:
        like = list(grads.values())
        flat = comm.allreduce_sum(backend, pack(xp, [*like, xp.reshape(xp.asarray(C), (1,))]))
        return dict(zip(grads, unpack(xp, flat[:-1], like))), flat[-1]

    return reduce


def shared_seed(comm: Communicator, proposal: int) -> int:
    """Rank 0's ``proposal`` on every rank (seeds below 2**52 survive the float64 sum)."""
    if comm.size == 1:
        return proposal
    return int(comm.allreduce_host([float(proposal if comm.is_root else 0)])[0])
