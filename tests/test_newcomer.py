"""A newcomer's first hour: what the command line says on the way, each rough edge once."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import xpnet
from xpnet.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_wheat_seeds_ship_with_xpnet(capsys):
    ds = xpnet.datasets.load("wheat-seeds")
    assert ds.name == "wheat-seeds" and ds.X_train.shape == (210, 7) and ds.n_classes == 3
    assert (xpnet.datasets.packaged("wheat-seeds").parent / "README.md").read_text().count(
        "CC BY 4.0") == 1   # its source and licence travel with it


def test_results_go_to_stdout_and_progress_to_stderr(capsys):
    code, out, err = run(capsys, "train", "--dataset", "wheat-seeds", "--epochs", "3",
                         "--backend", "numpy")
    assert code == 0, err
    assert out.startswith("test accuracy ") and out.count("\n") == 1
    assert "epoch 3/3" in err and "test accuracy" not in err
    # the header gives the rows each part holds
    assert "on wheat-seeds (168 train, 42 test rows; 7 features, 3 classes)" in err


def test_cross_validation_prints_a_line_per_fold(capsys):
    code, out, err = run(capsys, "train", "--dataset", "wheat-seeds", "--cv", "3", "--epochs",
                         "4", "--backend", "numpy")
    assert code == 0, err
    assert [line.split(":")[0] for line in err.splitlines()[1:]] == \
        ["fold 1/3", "fold 2/3", "fold 3/3"]
    assert out.startswith("cv accuracy ")


def test_evaluate_scores_the_rows_training_held_out(tmp_path, capsys):
    model = tmp_path / "w.npz"
    code, out, err = run(capsys, "train", "--dataset", "wheat-seeds", "--save", str(model),
                         "--quiet", "--backend", "numpy", "--epochs", "30")
    assert code == 0 and out.startswith("test accuracy ") and not err   # --quiet: results only
    code, out, _ = run(capsys, "evaluate", str(model))   # the dataset comes from the model
    assert code == 0
    assert out.splitlines()[0].endswith(
        "on the 42 rows of wheat-seeds that training held out (test split 0.2, seed 0)")
    # the same as the accuracy training printed on its test rows
    net = xpnet.load(model, backend="numpy")
    ds = xpnet.datasets.load("wheat-seeds")
    _, _, X, y = xpnet.datasets.split(ds.X_train, ds.y_train, 0.2, 0)
    labels = np.array([int(c) for c in ds.class_names])[y]   # the CSV's own labels, 1..3
    acc = float(np.mean(net.predict(X) == labels))            # raw rows: the model scales them
    assert out.startswith(f"accuracy {acc:.4f} ")


def test_evaluate_of_a_model_that_records_no_dataset_asks_for_one(tmp_path, capsys):
    net = xpnet.Network([7, 4, 3], backend="numpy", seed=0)
    net.save(tmp_path / "bare.npz")
    code, _, err = run(capsys, "evaluate", str(tmp_path / "bare.npz"))
    assert code == 2 and "records no dataset; name the data to score with --dataset" in err


def test_evaluate_of_an_onnx_file_says_what_it_is(tmp_path, capsys):
    pytest.importorskip("onnx")
    model, exported = tmp_path / "w.npz", tmp_path / "w.onnx"
    assert main(["train", "--dataset", "wheat-seeds", "--epochs", "2", "--save", str(model),
                 "--quiet", "--backend", "numpy"]) == 0
    assert main(["export", str(model), str(exported), "--quiet"]) == 0
    code, _, err = run(capsys, "evaluate", str(exported))
    assert code == 2 and "an ONNX model, for inference runtimes" in err
    assert "pickle" not in err


def test_predict_warns_when_inputs_are_already_scaled(tmp_path, capsys):
    model, raw, scaled = tmp_path / "w.npz", tmp_path / "raw.csv", tmp_path / "scaled.csv"
    assert main(["train", "--dataset", "wheat-seeds", "--epochs", "2", "--save", str(model),
                 "--quiet", "--backend", "numpy", "--scaling", "minmax"]) == 0
    X = xpnet.datasets.load("wheat-seeds").X_train[:10]
    np.savetxt(raw, X, delimiter=",")
    np.savetxt(scaled, X / 100.0, delimiter=",")
    code, _, err = run(capsys, "predict", str(model), "--input", str(raw))
    assert code == 0 and "warning" not in err
    code, _, err = run(capsys, "predict", str(model), "--input", str(scaled))
    assert code == 0 and "pass raw inputs, not scaled ones" in err


def test_divergence_is_one_line_without_floating_point_warnings(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a RuntimeWarning would fail here
        code, _, err = run(capsys, "train", "--dataset", "spirals", "--optimizer", "sgd",
                           "--lr", "50", "--epochs", "5", "--backend", "numpy")
    assert code == 2 and "training cost became" in err


def test_resuming_a_finished_checkpoint_says_so(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    assert main(["train", "--dataset", "wheat-seeds", "--epochs", "2", "--checkpoint", str(ck),
                 "--quiet", "--backend", "numpy"]) == 0
    code, _, err = run(capsys, "train", "--resume", str(ck), "--backend", "numpy")
    assert code == 2 and "has done 2 epochs already" in err and "ask for more epochs" in err
    assert err.count("\n") == 1 and "training" not in err   # refused before any header


def test_a_closed_pipe_ends_quietly(tmp_path):
    model = tmp_path / "w.npz"
    assert main(["train", "--dataset", "wheat-seeds", "--epochs", "2", "--save", str(model),
                 "--quiet", "--backend", "numpy"]) == 0
    proc = subprocess.run(f"{sys.executable} -m xpnet evaluate {model} | head -1", shell=True,
                          capture_output=True, text=True)
    assert proc.stdout.startswith("accuracy ") and "Broken pipe" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_shows_the_recipes_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "--lr 0.05 --batch-size 128 --epochs 20" in text   # the MNIST recipe


def test_the_offline_message_lists_every_missing_file_and_the_layout(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv("XPNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, _, err = run(capsys, "train", "--no-download")
    assert code == 2
    for name in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
        assert name in err
    assert str(tmp_path / "mnist") in err and "the folder ABOVE it" in err
    assert "XPNET_DATA_DIR=DATA" in err and "--data-dir DATA" in err


def test_a_resumed_run_saves_where_the_original_save_pointed(tmp_path, capsys):
    """Stopped after 2 of 4 epochs (--epochs 2 stands in for the signal), resumed with only
    --resume: the model file is the finished run's, and the run says where it went."""
    model = tmp_path / "m.npz"
    assert main(["train", "--dataset", "wheat-seeds", "--epochs", "2", "--save", str(model),
                 "--checkpoint-every", "1", "--backend", "numpy", "--quiet"]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "train", "--resume", f"{model}.ckpt.npz", "--epochs", "4",
                       "--backend", "numpy")
    assert code == 0, err
    assert f"saved model to {model} (where the run's --save pointed)" in err
    _, state, _ = xpnet.loading.load_with_state(f"{model}.ckpt.npz", backend="numpy")
    saved, finished = xpnet.load(model, backend="numpy"), xpnet.loading.load(
        f"{model}.ckpt.npz", backend="numpy")
    assert state["epochs_done"] == 4
    for p, q in zip(saved.parameters(), finished.parameters()):
        np.testing.assert_array_equal(p, q)


def test_outputs_that_cannot_be_written_are_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for flags, said in ((["--plot", str(blocker / "plots")], "is a file, not a folder"),
                        (["--save", str(tmp_path / "m.txt")], "name the model file .npz"),
                        (["--metrics-out", str(blocker / "m.json")], "is a file, not a folder"),
                        (["--compile"], "--compile needs --backend torch")):
        code, _, err = run(capsys, "train", "--dataset", "wheat-seeds", "--backend", "numpy",
                           *flags)
        assert code == 2 and said in err and "training" not in err, (flags, err)


def test_one_output_failing_loses_none_of_the_others(tmp_path, capsys, monkeypatch):
    from xpnet import plot

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(plot, "all_figures", broken)
    pytest.importorskip("matplotlib")
    model, m = tmp_path / "m.npz", tmp_path / "m.json"
    code, _, err = run(capsys, "train", "--dataset", "wheat-seeds", "--epochs", "2",
                       "--backend", "numpy", "--save", str(model), "--plot", str(tmp_path / "p"),
                       "--metrics-out", str(m))
    assert code == 2 and "the plots not written (disk full)" in err
    assert model.exists() and m.exists()


def test_hidden_takes_sizes_or_none(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--dataset", "wheat-seeds", "--hidden"])
    assert info.value.code == 2 and "expected at least one argument" in capsys.readouterr().err
    code, _, err = run(capsys, "train", "--dataset", "wheat-seeds", "--hidden", "none",
                       "--epochs", "1", "--backend", "numpy")
    assert code == 0 and "<Network 7-3 " in err


def test_a_mistyped_flag_points_to_the_commands_own_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--epocs", "3"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "unrecognized arguments: --epocs 3" in err
    assert "(see 'xpnet train --help')" in err


def test_a_long_run_of_fast_epochs_shows_a_line_a_second_not_every_epoch(capsys):
    code, _, err = run(capsys, "train", "--dataset", "xor", "--epochs", "200", "--backend",
                       "numpy", "--hidden", "4")
    lines = [ln for ln in err.splitlines() if ln.startswith("epoch ")]
    assert code == 0 and lines[0].startswith("epoch 1/200") and lines[-1].startswith(
        "epoch 200/200")
    assert len(lines) < 50


def test_python_mistakes_answer_in_one_line_naming_the_value(tmp_path):
    with pytest.raises(TypeError, match=r"layers\[1\] = 5.5 is not a whole number"):
        xpnet.Network([4, 5.5, 2])
    net = xpnet.Network([2, 3, 2], backend="numpy", seed=0)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OSError, match="afile is a file, not a folder"):
        net.save(tmp_path / "afile" / "m.npz")
    with pytest.raises(ValueError, match=r"X holds nan at row 1, column 0"):
        net.predict(np.array([[0.0, 1.0], [np.nan, 2.0]]))
    assert net.predict(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ValueError, match="give the rate to the object"):
        net.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]), optimizer=xpnet.SGD(0.1),
                learning_rate=0, progress=False)


def test_save_best_keeps_the_best_epochs_model(tmp_path, capsys):
    best, m = tmp_path / "best.npz", tmp_path / "m.json"
    code, _, err = run(capsys, "train", "--dataset", "wheat-seeds", "--epochs", "40",
                       "--validation-split", "0.2", "--save-best", str(best), "--lr", "0.5",
                       "--backend", "numpy", "--metrics-out", str(m))
    assert code == 0, err
    import json

    history = json.loads(m.read_text())["history"]
    kept = xpnet.load(best, backend="numpy")
    assert kept.class_names == ["1", "2", "3"] and kept.preprocessing is not None
    ds = xpnet.datasets.load("wheat-seeds")
    X, y, _, _ = xpnet.datasets.split(ds.X_train, ds.y_train, 0.2, 0)
    X_val = kept.preprocessing.transform(X[-34:])
    loss = xpnet.evaluate(kept, X_val, y[-34:], n=len(y) - 34)["loss"]
    assert loss == pytest.approx(min(history["val_loss"]), rel=1e-4)
    code, _, err = run(capsys, "train", "--dataset", "wheat-seeds", "--save-best", str(best))
    assert code == 2 and "--save-best needs --validation-split" in err
