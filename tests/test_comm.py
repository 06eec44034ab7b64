"""Data-parallel training: the communicator interface, and N = 2 MPI ranks against one process
(same seed, same global batch: the same weights up to summation order)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import comm
from xpnet.backend import to_numpy

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))


def test_pack_unpack_round_trip(backend):
    xp = backend.xp
    arrays = [backend.asarray(np.arange(6.0).reshape(2, 3), xp.float32),
              backend.asarray(np.arange(4.0), xp.float32)]
    flat = comm.pack(xp, arrays)
    assert tuple(flat.shape) == (10,)
    back = comm.unpack(xp, flat, arrays)
    for a, b in zip(arrays, back):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_averaging_keeps_arrays_on_their_device(backend):
    """The per-step reduction packs gradients and cost into one buffer and unpacks them, on
    the backend's device, in its dtype."""
    xp = backend.xp
    grads = {"W1": backend.asarray(np.ones((2, 3)), xp.float32),
             "b1": backend.asarray(np.ones(3), xp.float32)}
    C = backend.asarray(np.asarray(0.5), xp.float32)
    out, cost = comm.averaging(comm.Single(), backend)(grads, C)
    assert list(out) == ["W1", "b1"]
    for g, h in zip(grads.values(), out.values()):
        assert h.device == g.device and h.dtype == g.dtype and tuple(h.shape) == tuple(g.shape)
    assert float(cost) == 0.5


def test_single_communicator_is_the_identity():
    c = comm.get(None)
    assert (c.rank, c.size, c.is_root) == (0, 1, True)
    assert c.allreduce_host([1.5, 2.0]) == [1.5, 2.0]
    with pytest.raises(ValueError, match="valid: single, mpi, nccl"):
        comm.get("gloo")


class ThreadRanks(comm.Communicator):
    """``size`` ranks as threads of this process, meeting at a barrier: an in-process stand-in
    for MPI whose collectives really combine what every rank contributes."""

    name = "threads"

    def __init__(self, rank, size, shared):
        self.rank, self.size, self.shared = rank, size, shared

    def _gather(self, value):
        slots, barrier = self.shared["slots"], self.shared["barrier"]
        slots[self.rank] = value
        barrier.wait()
        everyone = list(slots)
        barrier.wait()   # nobody overwrites a slot before every rank has read them all
        return everyone

    def allreduce_sum(self, backend, buf):
        host = [to_numpy(b) for b in self._gather(buf)]
        return backend.asarray(np.sum(host, axis=0), buf.dtype)

    def broadcast(self, backend, buf):
        return backend.asarray(to_numpy(self._gather(buf)[0]), buf.dtype, copy=True)

    def allreduce_host(self, values):
        return np.sum(self._gather(np.asarray(values, dtype=np.float64)), axis=0).tolist()


def fit_on_threads(size, make, X, y, **kwargs):
    """Rank 0's network and history after fitting on ``size`` thread ranks."""
    import threading

    shared = {"slots": [None] * size, "barrier": threading.Barrier(size, timeout=60)}
    nets, histories, errors = [make() for _ in range(size)], [None] * size, []

    def run(r):
        try:
            histories[r] = nets[r].fit(X, y, comm=ThreadRanks(r, size, shared), **kwargs)
        except Exception as exc:   # noqa: BLE001 - reported below
            errors.append(exc)
            shared["barrier"].abort()

    threads = [threading.Thread(target=run, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return nets[0], histories[0]


@pytest.mark.parametrize("size", [2, 3])
def test_data_parallel_ranks_equal_one_process(size):
    """Rank 0's initial weights broadcast, each global batch split across the ranks, the
    gradients summed by the communicator: the weights and the history equal one process's
    with the same global batch (float64, up to summation order)."""
    X = np.random.default_rng(0).normal(size=(90, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)

    def make(seed=0):
        return xpnet.Network([2, 6, 2], hidden="tanh", backend="numpy", dtype="float64",
                             l2=0.05, seed=seed)

    kwargs = dict(epochs=3, batch_size=24, optimizer="momentum", learning_rate=0.1,
                  progress=False)
    one = make()
    h1 = one.fit(X, y, **kwargs)
    # every rank but 0 starts elsewhere: the broadcast must bring them to rank 0's weights
    many, hn = fit_on_threads(size, make, X, y, **kwargs)
    for p, q in zip(one.parameters(), many.parameters()):
        np.testing.assert_allclose(to_numpy(q), to_numpy(p), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hn.loss, h1.loss, rtol=1e-10)
    assert hn.accuracy == h1.accuracy


def test_the_thread_ranks_would_see_a_missing_reduction(monkeypatch):
    """The comparison above can fail: with the gradient sum left out, each rank trains on its
    own slice and the weights part from one process's."""
    X = np.random.default_rng(0).normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    make = lambda: xpnet.Network([2, 4, 2], backend="numpy", dtype="float64", seed=0)  # noqa: E731
    kwargs = dict(epochs=2, batch_size=20, progress=False)
    one = make()
    one.fit(X, y, **kwargs)
    monkeypatch.setattr(ThreadRanks, "allreduce_sum", lambda self, backend, buf: buf)
    many, _ = fit_on_threads(2, make, X, y, **kwargs)
    assert not np.allclose(to_numpy(many.parameters()[0]), to_numpy(one.parameters()[0]))


def mpi_or_skip():
    if MPIEXEC is None:
        pytest.skip("no mpiexec on PATH: pip install 'xpnet[mpi]' (mpi4py and MPICH)")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install 'xpnet[mpi]'")


def mpirun(n, *args, timeout=120):
    cmd = [MPIEXEC, "-n", str(n), sys.executable, *map(str, args)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_two_ranks_equal_one_process(tmp_path):
    mpi_or_skip()
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    r1 = mpirun(1, HERE / "mpi" / "equivalence.py", one)
    r2 = mpirun(2, HERE / "mpi" / "equivalence.py", two)
    assert r1.returncode == 0, r1.stderr
    assert r2.returncode == 0, r2.stderr
    with np.load(one) as a, np.load(two) as b:
        for k in a.files:
            rel = np.linalg.norm(a[k] - b[k]) / np.linalg.norm(a[k])
            assert rel <= 1e-10, f"{k}: relative difference {rel:.2e}"
    h1, h2 = (json.loads(Path(f"{p}.json").read_text()) for p in (one, two))
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-10)
    assert h2["accuracy"] == h1["accuracy"]


def test_a_dead_rank_stops_the_others(tmp_path):
    """Rank 1 exits abruptly after epoch 2: the launcher ends rank 0 instead of letting it
    wait forever in the next all-reduce, and rank 0's last checkpoint stays loadable."""
    mpi_or_skip()
    ck = tmp_path / "ck.npz"
    r = mpirun(2, HERE / "mpi" / "equivalence.py", tmp_path / "out.npz", "--epochs", "200",
               "--die-rank", "1", "--die-epoch", "2", "--checkpoint", ck, timeout=60)
    assert r.returncode != 0
    net, state, _ = xpnet.loading.load_with_state(ck, backend="numpy")
    assert state["epochs_done"] >= 1


def test_cli_distributed(tmp_path):
    mpi_or_skip()
    m = tmp_path / "m.json"
    r = mpirun(2, "-m", "xpnet", "train", "--dataset", "spirals", "--epochs", "20",
               "--distributed", "--backend", "numpy", "--metrics-out", m)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("test accuracy") == 1          # only rank 0 prints
    assert "data-parallel over 2 MPI ranks" in r.stderr
    assert json.loads(m.read_text())["test_accuracy"] > 0.9


def test_mpi4py_without_an_mpi_library_is_one_line(monkeypatch):
    """mpi4py 4 with no MPI library to load raises RuntimeError on ``from mpi4py import MPI``;
    the communicator answers with one line naming the fix."""
    import types

    class NoLibrary(types.ModuleType):
        def __getattr__(self, name):
            raise RuntimeError("cannot load MPI library\nerror: libmpi.so.12: cannot open")

    monkeypatch.setitem(sys.modules, "mpi4py", NoLibrary("mpi4py"))
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    with pytest.raises(xpnet.BackendError, match="cannot load an MPI library") as info:
        comm.MPI()
    assert "\n" not in str(info.value) and 'pip install "xpnet[mpi]"' in str(info.value)


def fake_cupyx(monkeypatch, stopped, refuse=False):
    """cupyx.distributed as seen from xpnet: a communicator whose rank-0 rendezvous server
    records when it is stopped, and whose NCCL refuses to start when ``refuse``."""
    import types

    class NCCLBackend:
        def __init__(self, n_devices, rank, host="127.0.0.1", port=13333):
            self.rank = rank
            if refuse:
                raise RuntimeError("NCCL_ERROR_INVALID_USAGE: invalid usage\nDuplicate GPU")

        def stop(self):
            stopped.append(True)

    distributed = types.ModuleType("cupyx.distributed")
    distributed.NCCLBackend = NCCLBackend
    cupyx = types.ModuleType("cupyx")
    cupyx.distributed = distributed
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    monkeypatch.setitem(sys.modules, "cupyx.distributed", distributed)
    monkeypatch.setattr(comm, "gpu_count", lambda: 1)
    devices = []
    monkeypatch.setattr(comm, "resolve",
                        lambda name, device: devices.append(device) or xpnet.resolve("numpy"))
    return devices


def test_nccl_stops_its_rendezvous_server_at_exit_and_on_abort(monkeypatch):
    import atexit

    stopped, registered, exited = [], [], []
    fake_cupyx(monkeypatch, stopped)
    monkeypatch.setattr(atexit, "register", registered.append)
    nccl = comm.NCCL(rank=0, size=1)
    assert registered == [nccl.close]          # at exit ...
    nccl.close()
    nccl.close()                               # ... once, however often it is called
    assert stopped == [True]
    again = comm.NCCL(rank=0, size=1)
    monkeypatch.setattr(comm.os, "_exit", exited.append)
    again.abort(1)                             # ... and before an abort
    assert stopped == [True, True] and exited == [1]


def test_nccl_takes_the_device_asked_for(monkeypatch):
    """--device reaches the NCCL communicator; without it each rank takes GPU rank % count."""
    devices = fake_cupyx(monkeypatch, [])
    monkeypatch.setattr(comm, "gpu_count", lambda: 4)
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("WORLD_SIZE", "8")
    comm.get("nccl")
    comm.get("nccl", device="cuda:2")
    assert devices == [1, "cuda:2"]


def test_nccl_refusing_stops_the_server_and_says_so_in_one_line(monkeypatch):
    stopped = []
    fake_cupyx(monkeypatch, stopped, refuse=True)
    with pytest.raises(xpnet.BackendError, match="NCCL refused to start rank 0 of 2") as info:
        comm.NCCL(rank=0, size=2)
    assert stopped == [True]
    assert "\n" not in str(info.value) and "--distributed mpi" in str(info.value)


def test_nccl_refusing_under_mpiexec_ends_both_ranks_in_seconds(tmp_path):
    """Two ranks, NCCL refusing as it does for two ranks on one GPU, rank 0's rendezvous
    server a non-daemon process as cupyx's is: both ranks end with one line each, within
    seconds, and the server was stopped (it writes its marker only when asked to stop)."""
    import time

    mpi_or_skip()
    marker = tmp_path / "server"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "FAKE_NCCL_MARKER": str(marker)}
    t0 = time.monotonic()
    r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, HERE / "mpi" / "nccl_refusal.py"],
                       capture_output=True, text=True, timeout=30, env=env)
    took = time.monotonic() - t0
    assert r.returncode != 0
    assert took < 10, f"took {took:.1f} s: {r.stderr}"
    lines = [ln for ln in r.stderr.splitlines() if "NCCL refused to start" in ln]
    assert lines and all(ln.startswith("xpnet train: error:") for ln in lines), r.stderr
    assert "Traceback" not in r.stderr
    assert marker.read_text() == "stopped"
