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
    grads = [backend.asarray(np.ones((2, 3)), xp.float32), backend.asarray(np.ones(3), xp.float32)]
    C = backend.asarray(np.asarray(0.5), xp.float32)
    out, cost = comm.averaging(comm.Single(), backend)(grads, C)
    for g, h in zip(grads, out):
        assert h.device == g.device and h.dtype == g.dtype and tuple(h.shape) == tuple(g.shape)
    assert float(cost) == 0.5


def test_single_communicator_is_the_identity():
    c = comm.get(None)
    assert (c.rank, c.size, c.is_root) == (0, 1, True)
    assert c.allreduce_host([1.5, 2.0]) == [1.5, 2.0]
    with pytest.raises(ValueError, match="valid: single, mpi, nccl"):
        comm.get("gloo")


def test_one_rank_fit_equals_plain_fit(backend):
    """The distributed code path with one rank changes nothing."""
    X = np.random.default_rng(0).normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    a = xpnet.Network([2, 4, 2], backend=backend, dropout=0.2, seed=0)
    b = xpnet.Network([2, 4, 2], backend=backend, dropout=0.2, seed=0)
    a.fit(X, y, epochs=2, batch_size=8, progress=False)
    b.fit(X, y, epochs=2, batch_size=8, progress=False, comm=comm.Single())
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(to_numpy(p), to_numpy(q))


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
    net, state, _ = xpnet.network.load_with_state(ck, backend="numpy")
    assert state["epochs_done"] >= 1


def test_cli_distributed(tmp_path):
    mpi_or_skip()
    m = tmp_path / "m.json"
    r = mpirun(2, "-m", "xpnet", "train", "--dataset", "spirals", "--epochs", "20",
               "--distributed", "--backend", "numpy", "--metrics-out", m)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("test accuracy") == 1          # only rank 0 prints
    assert "data-parallel over 2 MPI ranks" in r.stderr
    assert json.loads(m.read_text())["test_accuracy"] > 0.9
