"""A GPU's rules without a GPU: array-api-strict's simulated devices.

Arrays on ``device1`` refuse to mix with CPU arrays and to become NumPy arrays implicitly (as
CuPy's do); ``no_float64`` has no float64 (as some accelerators). The backend-matrix tests in
every other module run on both; this module checks what is particular to them: choosing them,
the clear error for a missing dtype, models moving between a device and the host, metrics and
plots fed with device arrays, the host-staged MPI path, and the host-read budget of an epoch:
on a device whose reads are costly, ``fit`` reads values back once per epoch, never per step.
"""

from __future__ import annotations

import io as stdio
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import comm
from xpnet.backend import BackendError, to_numpy
from xpnet.cli import main
from xpnet.metrics import accuracy, confusion_matrix, report

xs = pytest.importorskip("array_api_strict")

SRC = str(Path(xpnet.__file__).resolve().parent)


def device1() -> xpnet.Backend:
    return xpnet.resolve("array_api_strict", "device1")


def blobs(n=96, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, n)
    return centres[y] + 0.6 * rng.normal(size=(n, 2)), y


def on_device(arrays, device):
    return all(a.device == device for a in arrays)


# ------------------------------------------------------------------ choosing a device
def test_resolve_names_the_simulated_devices():
    be = device1()
    assert be.device == xs.Device("device1") and be.device_name == "device1"
    assert be.describe() == "array_api_strict (device1)" and be.reads_are_costly
    cpu = xpnet.resolve("array_api_strict")
    assert cpu.device_name == "cpu" and not cpu.reads_are_costly
    assert xpnet.resolve("array_api_strict", xs.Device("no_float64")).dtypes() == ["float32"]
    assert xpnet.resolve("array_api_strict", "cpu").device == xs.Device("CPU_DEVICE")
    with pytest.raises(BackendError, match=r"no device 'gpu7'; its devices: cpu, device1"):
        xpnet.resolve("array_api_strict", "gpu7")
    strict = [e for e in xpnet.backend.available() if e["backend"] == "array_api_strict"][0]
    assert {"cpu", "device1", "no_float64"} <= set(strict["devices"])


def test_the_simulated_device_behaves_like_a_gpu():
    """What makes it a useful stand-in: no implicit conversion, no mixing, explicit copies."""
    a = xs.asarray([1.0, 2.0], device=xs.Device("device1"))
    with pytest.raises(RuntimeError):
        np.asarray(a)
    with pytest.raises(ValueError, match="different devices"):
        a + xs.asarray([1.0, 2.0])
    np.testing.assert_array_equal(to_numpy(a), [1.0, 2.0])


def test_network_work_stays_on_its_device():
    be = device1()
    net = xpnet.Network([2, 8, 3], backend=be, dropout=0.2, l2=0.01, seed=0)
    X, y = blobs(32)
    assert on_device(net.parameters(), be.device)
    assert net.forward(X).device == be.device and net.predict(X).device == be.device
    C = net.train_step(X, y, xpnet.Adam(0.01))
    assert C.device == be.device and on_device(net.parameters(), be.device)
    assert on_device([g for pair in net.gradients(X, y) for g in pair], be.device)
    # a CPU array of the same library is copied over explicitly, never mixed in
    cpu_X = xpnet.resolve("array_api_strict").asarray(X, xs.float32)
    np.testing.assert_allclose(to_numpy(net.forward(cpu_X)), to_numpy(net.forward(X)))
    assert xpnet.gradcheck(net, X[:6], y[:6]) < 1e-6


# ------------------------------------------------------------------ a device without float64
def test_float64_on_a_device_without_it_says_so(tmp_path, capsys):
    expected = r"array_api_strict device no_float64 has no float64 .*use dtype='float32'"
    with pytest.raises(BackendError, match=expected):
        xpnet.Network([2, 3], backend="array_api_strict", device="no_float64", dtype="float64")
    net = xpnet.Network([2, 4, 3], backend="numpy", dtype="float64", seed=0)
    path = net.save(tmp_path / "m64.npz")
    with pytest.raises(BackendError, match=expected):
        xpnet.load(path, backend="array_api_strict", device="no_float64")
    there = xpnet.load(path, backend="array_api_strict", device="no_float64", dtype="float32")
    assert there.parameters()[0].dtype == xs.float32
    with pytest.raises(BackendError, match="gradcheck compares in float64"):
        xpnet.gradcheck(there, *blobs(4))
    code = main(["train", "--dataset", "xor", "--epochs", "1", "--backend", "array_api_strict",
                 "--device", "no_float64", "--dtype", "float64", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "has no float64" in err


def test_float32_training_works_without_float64():
    """float64 host data (NumPy's default) enters a float32 network on a float32-only device."""
    X, y = blobs()
    onehot = np.eye(3)[y]            # float64 targets, converted at the edge
    net = xpnet.Network([2, 16, 3], backend="array_api_strict", device="no_float64", seed=0)
    h = net.fit(X, onehot, epochs=5, batch_size=16, optimizer="adam", learning_rate=0.02,
                validation_split=0.25, progress=False)
    assert h.accuracy[-1] > 0.9 and net.evaluate(X, y)["accuracy"] > 0.9


# ------------------------------------------------------------------ moving models and results
def test_model_moves_between_device_and_numpy(tmp_path):
    be = device1()
    X, y = blobs()
    net = xpnet.Network([2, 6, 3], hidden="tanh", backend=be, l2=0.1, seed=0)
    net.fit(X, y, epochs=2, batch_size=16, optimizer="momentum", progress=False)
    cpu = xpnet.load(net.save(tmp_path / "dev.npz"), backend="numpy")
    back = xpnet.load(cpu.save(tmp_path / "cpu.npz"), backend=be)
    assert on_device(back.parameters(), be.device)
    for p, q, r in zip(net.parameters(), cpu.parameters(), back.parameters()):
        np.testing.assert_array_equal(to_numpy(p), q)
        np.testing.assert_array_equal(to_numpy(r), q)
    np.testing.assert_allclose(to_numpy(back.forward(X)), cpu.forward(X), rtol=1e-6)
    moved = net.to(backend="numpy")
    np.testing.assert_array_equal(moved.parameters()[0], to_numpy(net.parameters()[0]))
    again = moved.to(backend=be)
    assert again.backend.device_name == "device1" and on_device(again.parameters(), be.device)


def test_metrics_and_plots_take_device_arrays(tmp_path):
    be = device1()
    y_true = be.asarray(np.array([0, 1, 2, 1]))
    y_pred = be.asarray(np.array([0, 1, 1, 1]))
    assert accuracy(y_true, y_pred) == 0.75
    C = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(C, [[1, 0, 0], [0, 2, 0], [0, 1, 0]])
    assert "macro" in report(be.asarray(C))
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    X = rng.random((60, 4)) * 0.2
    X[np.arange(60), 2 * y] = 1.0      # 2x2 "images": a bright pixel per class
    net = xpnet.Network([4, 5, 2], backend=be, seed=0)
    history = net.fit(X, y, epochs=3, batch_size=10, progress=False)
    X_dev, y_dev = be.asarray(X, net.dtype), be.asarray(y)
    paths = xpnet.plot.all_figures(tmp_path, net, history, X_dev, y_dev, X_dev, (2, 2))
    assert sorted(p.name for p in paths) == ["confusion_matrix.png", "first_layer_weights.png",
                                            "misclassified.png", "training_curves.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_mpi_reduces_device_arrays_through_the_host():
    """The host-staged MPI path with arrays that refuse implicit conversion (one rank)."""
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install 'xpnet[mpi]'")
    be = device1()
    c = comm.MPI()
    if c.size != 1:
        pytest.skip("run as a single process")
    buf = be.asarray(np.arange(5.0), xs.float32)
    for out in (c.allreduce_sum(be, buf), c.broadcast(be, buf)):
        assert out.device == be.device and out.dtype == xs.float32
        np.testing.assert_array_equal(to_numpy(out), np.arange(5.0))


def test_cli_trains_evaluates_and_predicts_on_a_simulated_device(tmp_path, capsys):
    model, rows = tmp_path / "m.npz", tmp_path / "rows.csv"
    code = main(["train", "--dataset", "spirals", "--hidden", "16", "--epochs", "3",
                 "--backend", "array_api_strict", "--device", "device1", "--save", str(model),
                 "--validation-split", "0.1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "array_api_strict (device1)" in err and "test accuracy" in out
    assert main(["evaluate", str(model), "--dataset", "spirals", "--backend",
                 "array_api_strict", "--device", "device1"]) == 0
    assert "confusion matrix" in capsys.readouterr().out
    np.savetxt(rows, np.zeros((3, 2)), delimiter=",")
    assert main(["predict", str(model), "--input", str(rows), "--backend",
                 "array_api_strict", "--device", "device1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 3


# ------------------------------------------------------------------ the host-read budget
class HostReads:
    """Counts the reads of ``device1`` arrays back to the host: scalar conversions (``float``,
    ``int``, ``bool``, ``index``), copies to the CPU (``to_device``) and DLPack exports, each
    with the line of xpnet's code that asked for it."""

    def __init__(self, monkeypatch):
        self.where: Counter[str] = Counter()
        array = type(xs.asarray(0.0))
        cpu = xs.Device("CPU_DEVICE")
        for name in ("__float__", "__int__", "__bool__", "__index__", "__complex__",
                     "__dlpack__", "to_device"):
            original = getattr(array, name)

            def counted(self_, *args, _original=original, _name=name, **kwargs):
                target = args[0] if args else kwargs.get("device")
                if self_.device != cpu and (_name != "to_device" or target == cpu):
                    self.where[self._caller()] += 1
                return _original(self_, *args, **kwargs)

            monkeypatch.setattr(array, name, counted)

    @staticmethod
    def _caller() -> str:
        for frame in reversed(traceback.extract_stack()[:-2]):
            if frame.filename.startswith(SRC):
                return f"{Path(frame.filename).name}:{frame.lineno} {frame.line}"
        return "outside xpnet"

    @property
    def total(self) -> int:
        return sum(self.where.values())

    def reset(self) -> None:
        self.where.clear()


@pytest.fixture
def host_reads(monkeypatch):
    return HostReads(monkeypatch)


def reads_of_fit(host_reads, *, epochs, batch_size, validation=False, **kwargs):
    X, y = blobs(128)
    net = xpnet.Network([2, 16, 3], backend=device1(), dropout=0.1, l2=0.01, seed=0)
    host_reads.reset()
    net.fit(X, y, epochs=epochs, batch_size=batch_size, progress=True, stream=stdio.StringIO(),
            validation_split=0.25 if validation else 0.0, **kwargs)
    return host_reads.total, dict(host_reads.where)


# Per epoch: the epoch's cost and its count of correct predictions; with validation data, its
# cost and correct count too. Per fit: none (labels given on the host are checked there).
READS_PER_EPOCH, READS_PER_VALIDATION, READS_PER_FIT = 2, 2, 0


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("validation", [False, True])
def test_an_epoch_reads_the_device_a_fixed_number_of_times(host_reads, optimizer, validation):
    per_epoch = READS_PER_EPOCH + (READS_PER_VALIDATION if validation else 0)
    kw = dict(optimizer=optimizer, validation=validation, schedule="cosine")
    few_steps, where = reads_of_fit(host_reads, epochs=1, batch_size=48, **kw)
    many_steps, where_many = reads_of_fit(host_reads, epochs=1, batch_size=4, **kw)
    assert many_steps == few_steps, f"reads grow with the number of steps: {where_many}"
    three_epochs, _ = reads_of_fit(host_reads, epochs=3, batch_size=4, **kw)
    assert three_epochs - many_steps == 2 * per_epoch, where_many
    assert few_steps == READS_PER_FIT + per_epoch, where


def test_checkpoints_and_early_stopping_stay_within_the_budget(host_reads, tmp_path):
    """Checkpoints read the parameters once per write (each array once), never per step."""
    _, plain = reads_of_fit(host_reads, epochs=2, batch_size=8, validation=True)
    total, where = reads_of_fit(host_reads, epochs=2, batch_size=8, validation=True,
                                callbacks=[xpnet.EarlyStopping(patience=5)],
                                checkpoint=tmp_path / "ck.npz", optimizer="adam")
    params = 4      # W and b of two layers
    opt_state = 8   # Adam's m and v for each
    assert total == sum(plain.values()) + 2 * (params + opt_state), where


def test_sparse_rows_read_no_batch_indices_back(host_reads):
    """Sparse rows are gathered on the host from an order kept there: the batches' indices
    go to the device, never come back, so reads do not grow with the steps."""
    sparse = pytest.importorskip("scipy.sparse")
    X, y = blobs(128)
    X = sparse.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))

    def reads(batch_size):
        net = xpnet.Network([2, 16, 3], backend=device1(), seed=0)
        host_reads.reset()
        net.fit(X, y, epochs=1, batch_size=batch_size, progress=False)
        return host_reads.total, dict(host_reads.where)

    few, _ = reads(48)
    many, where = reads(4)
    assert many == few == READS_PER_FIT + READS_PER_EPOCH, where


def test_device_labels_are_range_checked_in_one_read(host_reads):
    X, y = blobs(64)
    net = xpnet.Network([2, 16, 3], backend=device1(), seed=0)
    Y = net.backend.asarray(y)
    host_reads.reset()
    net.prepare(X, Y)
    assert host_reads.total == 1, host_reads.where
    with pytest.raises(ValueError, match=r"in \[0, 2\] for 3 outputs; found 3..5"):
        net.prepare(X, net.backend.asarray(y + 3))


def test_the_read_counter_sees_a_read_in_the_step(host_reads, monkeypatch):
    """The budget test can fail: a float() of the cost inside the step is a read per step."""
    from xpnet.step import TrainingStep

    original = TrainingStep.update

    def reading_step(self, *args, **kwargs):
        C, out = original(self, *args, **kwargs)
        float(C)
        return C, out

    monkeypatch.setattr(TrainingStep, "update", reading_step)
    few, _ = reads_of_fit(host_reads, epochs=1, batch_size=48)    # 3 steps over 128 examples
    many, where = reads_of_fit(host_reads, epochs=1, batch_size=4)  # 32 steps
    assert many - few == 32 - 3, where
