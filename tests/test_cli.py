"""The command line, end to end on small data (full-length MNIST runs are not unit tests)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from xpnet.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def metrics(path):
    return json.loads(path.read_text())


def test_train_xor(tmp_path, capsys):
    m = tmp_path / "m.json"
    code, _, err = run(capsys, "train", "--dataset", "xor", "--backend", "numpy",
                       "--metrics-out", str(m))
    assert code == 0, err
    d = metrics(m)
    assert d["test_accuracy"] == 1.0 and d["epochs"] == 300 and len(d["history"]["loss"]) == 300
    assert d["train_seconds"] > 0


def test_wheat_seeds_cross_validation_reaches_the_tutorial(tmp_path, capsys):
    """The tutorial reports about 93% with 5-fold cross-validation."""
    m = tmp_path / "m.json"
    code, _, err = run(capsys, "train", "--dataset", "wheat-seeds",
                       "--cv", "5", "--backend", "numpy", "--quiet", "--metrics-out", str(m))
    assert code == 0, err
    d = metrics(m)
    assert d["cv_accuracy"] >= 0.93 and len(d["cv_fold_accuracy"]) == 5


def test_classic_network_one_epoch(tmp_path, capsys, data_dir):
    """The textbook network (its biases N(0, 1) too), cut to one epoch: the book reports
    about 91% after the first epoch."""
    m = tmp_path / "m.json"
    code, _, err = run(capsys, "train", "--hidden", "30", "--activation", "sigmoid",
                       "--output", "sigmoid", "--loss", "mse", "--init", "large",
                       "--optimizer", "sgd", "--lr", "3.0", "--batch-size", "10",
                       "--bias-init", "normal", "--epochs", "1", "--backend", "numpy",
                       "--metrics-out", str(m))
    assert code == 0, err
    assert "dropout" not in err and "schedule" not in err   # the plain textbook network
    assert metrics(m)["test_accuracy"] > 0.9


def test_default_recipe_save_evaluate_predict(tmp_path, capsys, data_dir):
    model, m = tmp_path / "mnist.npz", tmp_path / "m.json"
    code, _, err = run(capsys, "train", "--epochs", "1", "--backend", "numpy", "--save",
                       str(model), "--metrics-out", str(m))
    assert code == 0, err
    assert "784-512-512-10" in err and "cosine schedule, dropout 0.2" in err
    assert metrics(m)["test_accuracy"] > 0.95
    code, out, err = run(capsys, "evaluate", str(model), "--backend", "array_api_strict")
    assert code == 0, err
    assert out.startswith("accuracy 0.9") and "confusion matrix" in out
    from xpnet.datasets import mnist

    X = mnist(data_dir).X_test[:5]
    np.save(tmp_path / "x.npy", X)
    code, out, err = run(capsys, "predict", str(model), "--input", str(tmp_path / "x.npy"))
    assert code == 0, err
    assert out.splitlines()[0] == "index,prediction" and len(out.splitlines()) == 6
    assert [int(line.split(",")[1]) for line in out.splitlines()[1:]] == [7, 2, 1, 0, 4]


def test_csv_predict_with_string_classes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{'left' if a < 0 else 'right'}"
            for a, b in rng.normal(size=(80, 2))]
    data = tmp_path / "d.csv"
    data.write_text("x,y,side\n" + "\n".join(rows) + "\n")
    model = tmp_path / "m.npz"
    code, _, err = run(capsys, "train", "--dataset", str(data), "--save", str(model),
                       "--backend", "numpy", "--quiet")
    assert code == 0, err
    (tmp_path / "in.csv").write_text("x,y\n-2,0\n2,0\n")
    code, out, err = run(capsys, "predict", str(model), "--input", str(tmp_path / "in.csv"))
    assert code == 0, err
    assert out.splitlines()[1:] == ["0,left", "1,right"]


def test_checkpoint_and_resume(tmp_path, capsys):
    ck, m = tmp_path / "ck.npz", tmp_path / "m.json"
    code, _, err = run(capsys, "train", "--dataset", "spirals", "--epochs", "3",
                       "--checkpoint", str(ck), "--checkpoint-every", "1", "--backend", "numpy",
                       "--quiet")
    assert code == 0 and ck.exists(), err
    code, _, err = run(capsys, "train", "--dataset", "spirals", "--resume", str(ck),
                       "--epochs", "5", "--backend", "numpy", "--metrics-out", str(m))
    assert code == 0, err
    assert metrics(m)["history"]["epoch"] == [1, 2, 3, 4, 5]
    assert "epoch 4/5" in err and "epoch 3/5" not in err


def test_info(capsys):
    code, out, _ = run(capsys, "info")
    assert code == 0 and "numpy" in out and "BLAS" in out and "cupy" in out


@pytest.mark.parametrize(
    "argv,words",
    [
        (["train", "--dataset", "missing.csv"], "missing.csv: file not found"),
        (["train", "--dataset", "cifar"], "unknown dataset"),
        (["train", "--dataset", "xor", "--backend", "jax"], "valid backends"),
        (["evaluate", "nothere.npz", "--dataset", "xor"], "model file not found"),
        (["train", "--dataset", "xor", "--cv", "3", "--save", "x.npz"], "--cv estimates"),
    ],
)
def test_errors_are_one_line_exit_2(capsys, argv, words):
    code, _, err = run(capsys, *argv)
    assert code == 2 and words in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["train", "--activation", "sigmod"],
                                  ["train", "--batch-size", "0"], ["train", "--lr", "-1"],
                                  ["train", "--dropout", "1.5"]])
def test_bad_flags_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "xpnet train: error:" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xpnet", "train", "--dataset",
                           str(tmp_path / "bad.csv")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bad.csv: file not found" in proc.stderr


def test_checkpoint_flag_alone_checkpoints_every_epoch(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    code, _, err = run(capsys, "train", "--dataset", "xor", "--epochs", "3", "--checkpoint",
                       str(ck), "--backend", "numpy", "--quiet")
    assert code == 0, err
    from xpnet import loading

    assert loading.load_with_state(ck, backend="numpy")[1]["epochs_done"] == 3


def test_resume_continues_on_the_checkpoints_dataset(tmp_path, capsys, monkeypatch):
    """--resume without --dataset trains on the data the checkpoint was made from (here a CSV
    given by a relative path, resumed from another directory), with the same test split."""
    rng = np.random.default_rng(1)
    rows = [f"{a:.3f},{b:.3f},{int(a + b > 0)}" for a, b in rng.normal(size=(120, 2))]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path / "data")
    ck, m1, m2 = tmp_path / "ck.npz", tmp_path / "m1.json", tmp_path / "m2.json"
    code, _, err = run(capsys, "train", "--dataset", "t.csv", "--epochs", "2", "--checkpoint",
                       str(ck), "--backend", "numpy", "--quiet", "--metrics-out", str(m1))
    assert code == 0, err
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "train", "--resume", str(ck), "--epochs", "4", "--backend",
                       "numpy", "--metrics-out", str(m2))
    assert code == 0, err
    assert " on t (" in err   # the checkpoint's dataset, t.csv
    assert metrics(m2)["history"]["epoch"] == [1, 2, 3, 4]


def regression_csv(path, n=400, seed=0):
    """A real-valued target: y = 3 + 2 a - b^2 + c/2 + noise (sd 0.1)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = 3 + 2 * X[:, 0] - X[:, 1] ** 2 + 0.5 * X[:, 2] + 0.1 * rng.normal(size=n)
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.6f",
               header="a,b,c,target", comments="")
    return X, y


def test_a_real_valued_label_column_trains_a_regressor(tmp_path, capsys):
    sk_metrics = pytest.importorskip("sklearn.metrics")
    r2_score, mean_absolute_error = sk_metrics.r2_score, sk_metrics.mean_absolute_error
    data, model, m = tmp_path / "reg.csv", tmp_path / "reg.npz", tmp_path / "m.json"
    X, y = regression_csv(data)
    code, out, err = run(capsys, "train", "--dataset", str(data), "--save", str(model),
                         "--metrics-out", str(m), "--backend", "numpy")
    assert code == 0, err
    assert "a real-valued target" in err and "test RMSE" in out
    d = metrics(m)
    assert d["network"]["loss"] == "mse" and d["network"]["layers"][-1]["activation"] == \
        {"name": "identity"}
    assert d["test_r2"] > 0.8 and d["test_rmse"] >= d["test_mae"] > 0
    code, out, err = run(capsys, "evaluate", str(model), "--dataset", str(data))
    assert code == 0, err
    # evaluate scores the rows training held out: the same split, made again
    from xpnet.datasets import split

    table = np.loadtxt(data, delimiter=",", skiprows=1)   # the values as the file holds them
    _, _, X_held, y_held = split(table[:, :3], table[:, 3], 0.2, 0)
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, X_held, delimiter=",")
    code, pred_out, err = run(capsys, "predict", str(model), "--input", str(rows))
    pred = np.array([float(line.split(",")[1]) for line in pred_out.strip().splitlines()[1:]])
    r2 = r2_score(y_held, pred)   # scikit-learn as the referee
    mae = mean_absolute_error(y_held, pred)
    assert out.startswith(f"RMSE {np.sqrt(np.mean((y_held - pred) ** 2)):.6g}  MAE {mae:.6g}  "
                          f"R^2 {r2:.4f} on the 80 rows of reg.csv that training held out")


def test_task_flag_forces_the_choice(tmp_path, capsys):
    data = tmp_path / "reg.csv"
    regression_csv(data, n=60)
    code, _, err = run(capsys, "train", "--dataset", str(data), "--cv", "3")
    assert code == 2 and "--cv reports accuracy" in err
    m = tmp_path / "m.json"   # the wheat seeds' integer classes 1..3, read as a target
    code, _, err = run(capsys, "train", "--dataset", "wheat-seeds", "--task", "regression",
                       "--epochs", "20", "--metrics-out", str(m))
    assert code == 0, err
    assert "test_r2" in metrics(m) and "test_accuracy" not in metrics(m)


@pytest.mark.parametrize("library,kind", [("cupy", "nccl"), ("numpy", "mpi")])
def test_distributed_auto_follows_the_backend_resolved(monkeypatch, library, kind):
    """--distributed auto decides by the backend that ``--backend auto`` resolves to, not by
    the name asked for: NCCL on a GPU machine, with each rank on its own GPU."""
    from xpnet import backend as backend_module
    from xpnet import comm
    from xpnet.cli import build_parser
    from xpnet.cli import train as cli

    class Ranks(comm.Communicator):
        rank, size = 5, 8

    picked = []
    cls = {"cupy": backend_module.CupyBackend, "numpy": backend_module.NumpyBackend}[library]
    resolved = cls(None, None, None)   # what "auto" resolved to: the class decides
    monkeypatch.setattr(cli, "resolve", lambda backend, device=None: resolved)
    monkeypatch.setattr(backend_module.cupy_backend, "gpu_count", lambda: 4)
    monkeypatch.setattr(comm, "get", lambda k, device=None: picked.append(k) or Ranks())
    args = build_parser().parse_args(["train", "--distributed"])
    assert args.backend == "auto"
    _, device = cli._communicator(args)
    assert picked == [kind]
    assert device == (5 % 4 if library == "cupy" else None)
