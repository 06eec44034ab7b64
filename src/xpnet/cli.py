"""The ``xpnet`` command line: ``train``, ``evaluate``, ``predict``, ``info`` and ``bench``.

Errors in use (bad flags, bad files, an unavailable backend) print one line to stderr and exit
with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, activations, datasets, init, losses, optim, recipes, schedules
from .backend import BackendError, available, gpu_count, to_numpy
from .errors import DataError, ModelFileError, TrainingDiverged
from .metrics import regression_scores

EXIT_USAGE = 2


class UsageError(ValueError):
    """A problem with what the user asked for; shown as one line, exit status 2."""


# --------------------------------------------------------------------------- argument parsing
def _checked(convert: Any, ok: Any, requirement: str) -> Any:
    """An argparse type: ``convert`` the text, then refuse values for which ``ok`` is false."""
    noun = "an integer" if convert is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    return parse


_positive_int = _checked(int, lambda v: v >= 1, ">= 1")
_fraction = _checked(float, lambda v: 0.0 <= v < 1.0, "in [0, 1)")
_positive_float = _checked(float, lambda v: 0.0 < v < float("inf"), "a finite number > 0")
_nonneg_float = _checked(float, lambda v: 0.0 <= v < float("inf"), "a finite number >= 0")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line (the full usage is one ``--help`` away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="xpnet", description="Train and use dense neural networks on NumPy, CuPy, "
        "PyTorch or array-api-strict.")
    p.add_argument("--version", action="version", version=f"xpnet {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--backend", default="auto",
                        help="auto (CuPy on a GPU, else NumPy), numpy, cupy, torch, "
                             "array_api_strict (default: auto)")
        sp.add_argument("--device", default=None,
                        help="a CUDA index for cupy (0, cuda:1), cpu or cuda:N for torch, or an "
                             "array_api_strict device (device1, no_float64: simulated devices "
                             "for testing)")
        sp.add_argument("--data-dir", default=None,
                        help="folder holding one sub-folder per dataset (default: "
                             "$XPNET_DATA_DIR, then the user cache)")
        sp.add_argument("--quiet", action="store_true", help="print only errors")
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks for errors")

    t = sub.add_parser("train", help="train a network (default: the MNIST recipe)")
    common(t)
    t.add_argument("--dataset",
                   help="mnist (the default), xor, spirals, moons, a .csv file, or a folder of "
                        "IDX files; with --resume, the checkpoint's dataset by default")
    t.add_argument("--label-column", type=int, help="CSV label column (default -1)")
    t.add_argument("--task", choices=("auto", "classification", "regression"),
                   help="for a CSV: classes or a real-valued target (default auto: regression "
                        "when a label has a fraction)")
    t.add_argument("--no-download", action="store_true", help="never download data")
    t.add_argument("--hidden", type=_positive_int, nargs="*", help="hidden layer sizes")
    t.add_argument("--activation", choices=activations.NAMES, help="hidden activation")
    t.add_argument("--output", choices=activations.NAMES, help="output activation")
    t.add_argument("--loss", choices=losses.NAMES)
    t.add_argument("--init", choices=init.NAMES, help="weight initialiser")
    t.add_argument("--bias-init", choices=init.BIAS_INITS, default="zeros")
    t.add_argument("--optimizer", choices=optim.NAMES)
    t.add_argument("--lr", type=_positive_float, help="learning rate")
    t.add_argument("--momentum", type=_fraction, help="momentum (momentum/nesterov)")
    t.add_argument("--schedule", choices=schedules.NAMES, help="learning-rate schedule")
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--l2", type=_nonneg_float, help="L2 strength lambda (cost + lambda/2n sum w^2)")
    t.add_argument("--dropout", type=_fraction, help="dropout rate after each hidden layer")
    t.add_argument("--seed", type=int, help="random seed (default 0)")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--scaling", choices=("pixels", "standardize", "minmax", "none"),
                   help="input preprocessing, fitted on the training split")
    t.add_argument("--validation-split", type=_fraction, default=0.0)
    t.add_argument("--test-split", type=_fraction, default=None,
                   help="hold out this fraction as a test set when the data has none "
                        "(default 0.2 for CSV files)")
    t.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs")
    t.add_argument("--cv", type=_positive_int, metavar="K", help="k-fold cross-validation")
    t.add_argument("--save", metavar="PATH",
                   help="save the trained model (.npz, or .safetensors)")
    t.add_argument("--checkpoint", metavar="PATH",
                   help="write checkpoints here (every epoch unless --checkpoint-every); "
                        "with --save and --checkpoint-every the default is SAVE.ckpt.npz")
    t.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                   help="write a checkpoint every N epochs")
    t.add_argument("--resume", metavar="PATH", help="continue training from a checkpoint")
    t.add_argument("--metrics-out", metavar="PATH", help="write metrics and history as JSON")
    t.add_argument("--distributed", nargs="?", const="auto", choices=("auto", "mpi", "nccl"),
                   help="data-parallel training across the processes of an MPI launch "
                        "(mpiexec -n N xpnet train --distributed); auto: NCCL for the cupy "
                        "backend, MPI otherwise")
    t.add_argument("--plot", metavar="DIR",
                   help="write PNGs of the training curves, confusion matrix, misclassified "
                        "images and first-layer weights (needs: pip install 'xpnet[plot]')")

    e = sub.add_parser("evaluate", help="accuracy and confusion matrix of a saved model")
    common(e)
    e.add_argument("model")
    e.add_argument("--dataset", default="mnist")
    e.add_argument("--label-column", type=int, default=-1)
    e.add_argument("--no-download", action="store_true")

    pr = sub.add_parser("predict", help="predict classes for new inputs")
    common(pr)
    pr.add_argument("model")
    pr.add_argument("--input", required=True,
                    help="a CSV of feature rows, a .npy array, or an IDX images file")
    pr.add_argument("--out", help="write predictions as CSV here (default: stdout)")

    ex = sub.add_parser("export", help="write a saved model as ONNX (.onnx), safetensors "
                                       "(.safetensors) or .npz, by the output's suffix")
    ex.add_argument("model", help="a model file (.npz or .safetensors)")
    ex.add_argument("out", help="OUT.onnx, OUT.safetensors or OUT.npz")
    ex.add_argument("--quiet", action="store_true", help="print only errors")
    ex.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                    help="show tracebacks for errors")

    sub.add_parser("info", help="backends, devices, versions and BLAS")

    b = sub.add_parser("bench", help="time the matmul core and the training step")
    b.add_argument("--backend", action="append",
                   help="backend to time (repeatable; default: every available one)")
    b.add_argument("--device", help="device for the backends timed: a CUDA index for cupy, "
                                    "'cpu' or 'cuda:N' for torch, an array_api_strict device "
                                    "(default: each one's default)")
    b.add_argument("--batch-sizes", type=_positive_int, nargs="+", metavar="M",
                   help="batch sizes (default: 32 128 512 2048)")
    b.add_argument("--sizes", type=_positive_int, nargs="+", metavar="N",
                   help="layer sizes of the ReLU network timed, input to output "
                        "(default: 784 512 512 10)")
    b.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    b.add_argument("--repeats", type=_positive_int, default=7,
                   help="interleaved repeats per measurement; medians are shown (default: 7)")
    b.add_argument("--json", metavar="PATH", help="write the raw figures as JSON")
    b.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks for errors")
    return p


# --------------------------------------------------------------------------- commands
def _say(args: argparse.Namespace, *parts: Any) -> None:
    if not getattr(args, "quiet", False):
        print(*parts, file=sys.stderr, flush=True)


def _load_dataset(args: argparse.Namespace) -> datasets.Dataset:
    return datasets.load(args.dataset, data_dir=args.data_dir, label_column=args.label_column,
                         download=not args.no_download, progress=not args.quiet,
                         task=getattr(args, "task", None) or "auto")


def cmd_train(args: argparse.Namespace) -> int:
    from . import io, network
    from .callbacks import EarlyStopping
    from .network import Network
    from .preprocess import Scaler
    from .train import cross_validate, fit

    if args.plot:
        from . import plot

        try:
            plot._pyplot()  # fail now, not after training, when matplotlib is missing
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    if args.save and Path(args.save).suffix == ".safetensors":
        from . import safetensors_file

        try:
            safetensors_file._library()  # likewise for the safetensors library
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    if args.cv and args.distributed:
        raise UsageError("--cv runs its folds in one process; drop --distributed")
    if args.cv and (args.save or args.resume):
        raise UsageError("--cv estimates accuracy only; train without --cv to --save a model")
    if args.cv == 1:
        raise UsageError("--cv needs K >= 2 folds")
    comm = _communicator(args)
    if not comm.is_root:
        args.quiet = True   # only rank 0 prints, writes metrics, checkpoints and saves
        args.save = args.metrics_out = args.plot = None
    state = None
    if args.resume:
        header, _ = io.read(args.resume)
        state = header.get("training")
        if state is None:
            raise UsageError(f"{args.resume}: a model file, not a checkpoint")
    saved = state.get("fit", {}) if state is not None else {}
    # the data a resumed run continues on, unless named again
    for name, default in (("dataset", "mnist"), ("label_column", -1), ("test_split", None),
                          ("seed", 0), ("task", "auto")):
        if getattr(args, name) is None:
            setattr(args, name, saved.get(name, default))
    ds = _load_dataset(args)
    recipe = recipes.for_dataset(ds)
    recipe.update({k: v for k, v in saved.items() if k in ("epochs", "batch_size")})

    # The recipe's regularisers belong to its architecture and optimizer: change those and
    # they fall back to none (so "--hidden 30 ... --lr 3.0" is the plain textbook network).
    if state is None and (args.hidden is not None or args.activation is not None):
        recipe.update(dropout=0.0, l2=0.0)
    if state is None and (args.optimizer is not None or args.lr is not None):
        recipe.update(schedule="constant")

    def pick(name: str) -> Any:
        value = getattr(args, name)
        return recipe.get(name) if value is None else value

    regression = ds.task == "regression"
    if regression and args.cv:
        raise UsageError("--cv reports accuracy, and this label column is a real-valued target; "
                         "train with a test split (--test-split) instead")
    if regression:
        n_out, output, loss = 1, args.output or "identity", args.loss or "mse"
    else:
        n_out, output, loss = recipes.head(ds.n_classes, args.output, args.loss)
    hidden = pick("hidden")
    dropout, l2 = pick("dropout"), pick("l2")
    opt_name, lr = pick("optimizer"), pick("lr")
    opt_kwargs = {"momentum": pick("momentum")} if opt_name in ("momentum", "nesterov") else {}
    optimizer = optim.get(opt_name, lr, **opt_kwargs)
    if state is not None:   # a resumed run continues with the checkpoint's optimizer
        optimizer = optim.from_config(state["optimizer"])
    epochs, batch_size = pick("epochs"), pick("batch_size")
    scaling = args.scaling or ds.scaling
    sched = schedules.get(pick("schedule"), epochs=epochs)

    def make_network() -> Network:
        return Network([ds.n_features, *hidden, n_out], hidden=pick("activation"),
                       output=output, loss=loss, init=args.init, bias_init=args.bias_init,
                       dropout=dropout, l2=l2, backend=args.backend, device=args.device,
                       dtype=args.dtype, seed=args.seed)

    metrics: dict[str, Any] = {"dataset": ds.name, "xpnet_version": __version__}
    fit_kwargs = dict(epochs=epochs, batch_size=batch_size, schedule=sched,
                      progress=not args.quiet, validation_split=args.validation_split)
    if comm.size > 1:
        fit_kwargs["comm"] = comm
    if args.cv:
        probe = make_network()
        _say(args, f"{args.cv}-fold cross-validation of {probe!r} on {ds!r}")
        t0 = time.perf_counter()
        cv = cross_validate(make_network, ds.X_train, ds.y_train, args.cv, scaling=scaling,
                            seed=args.seed, optimizer=optimizer, **fit_kwargs)
        seconds = time.perf_counter() - t0
        _say(args, f"cv accuracy {cv['mean']:.4f} +/- {cv['std']:.4f} "
             f"(folds: {', '.join(f'{a:.3f}' for a in cv['fold_accuracy'])}) in {seconds:.1f}s")
        metrics.update(cv_accuracy=cv["mean"], cv_std=cv["std"],
                       cv_fold_accuracy=cv["fold_accuracy"], epochs=epochs,
                       train_seconds=seconds, network=probe.config())
        _write_metrics(args, metrics)
        return 0

    X_train, y_train, X_test, y_test = ds.X_train, ds.y_train, ds.X_test, ds.y_test
    test_split = 0.2 if args.test_split is None else args.test_split
    if X_test is None and test_split:
        X_train, y_train, X_test, y_test = datasets.split(X_train, y_train, test_split, args.seed)

    if state is not None:
        net = network.load(args.resume, backend=args.backend, device=args.device)
        scaler = net.preprocessing
    else:
        net = make_network()
        scaler = Scaler(scaling).fit(X_train)
        net.preprocessing = scaler
        net.class_names = None if regression else list(ds.class_names)
    dtype = np.float64 if net.dtype_name == "float64" else np.float32
    Xtr = scaler.transform(X_train, dtype)
    _say(args, f"training {net!r} on {ds!r}"
         + (f", data-parallel over {comm.size} {comm.name.upper()} ranks" if comm.size > 1
            else ""))
    _say(args, f"  {net.backend.describe()}, optimizer {optimizer!r}, batch {batch_size}, "
         f"{epochs} epochs" + (f", {sched.name} schedule" if sched.name != "constant" else "")
         + (f", dropout {dropout}" if dropout else "") + (f", l2 {l2}" if l2 else ""))
    checkpoint = args.checkpoint or args.resume or (
        f"{args.save}.ckpt.npz" if args.save and args.checkpoint_every else None)
    if args.checkpoint_every and checkpoint is None:
        raise UsageError("--checkpoint-every needs --checkpoint PATH or --save PATH")
    callbacks = [EarlyStopping(patience=args.early_stopping)] if args.early_stopping else []
    if callbacks and not args.validation_split:
        raise UsageError("--early-stopping needs --validation-split (it watches val_loss)")
    t0 = time.perf_counter()
    where = Path(args.dataset)   # a file or folder is recorded by its absolute path
    notes = {"dataset": str(where.resolve()) if where.exists() else args.dataset,
             "label_column": args.label_column, "test_split": args.test_split,
             "seed": args.seed, "task": args.task}
    history = fit(net, Xtr, y_train, optimizer=optimizer, callbacks=callbacks,
                  checkpoint=checkpoint, checkpoint_every=args.checkpoint_every or 1,
                  resume=args.resume, notes=notes, **fit_kwargs)
    seconds = time.perf_counter() - t0
    metrics.update(epochs=len(history.epoch), train_seconds=seconds,
                   history=history.as_dict(), network=net.config(),
                   backend=net.backend.describe(), optimizer=optimizer.config())
    X_test_scaled = scaler.transform(X_test, dtype) if X_test is not None else None
    if X_test is not None and regression:
        assert y_test is not None
        scores = regression_scores(y_test, to_numpy(net.forward(X_test_scaled))[:, 0])
        metrics.update({f"test_{k}": v for k, v in scores.items()})
        _say(args, f"test RMSE {scores['rmse']:.4g}  MAE {scores['mae']:.4g}  "
             f"R^2 {scores['r2']:.4f} on {len(y_test)} examples after {len(history.epoch)} "
             f"epochs in {seconds:.1f}s")
    elif X_test is not None:
        assert y_test is not None
        pred = to_numpy(net.predict(X_test_scaled))
        acc = float(np.mean(pred == y_test))
        metrics["test_accuracy"] = acc
        _say(args, f"test accuracy {acc:.4f} ({int(np.sum(pred == y_test))}/{len(y_test)}) "
             f"after {len(history.epoch)} epochs in {seconds:.1f}s")
    if args.save:
        path = net.save(args.save)
        _say(args, f"saved model to {path}")
    if args.plot:
        from . import plot

        written = plot.all_figures(args.plot, net, history, X_test_scaled,
                                   None if regression else y_test, X_test, ds.image_shape)
        _say(args, f"wrote {', '.join(str(p) for p in written)}")
    _write_metrics(args, metrics)
    return 130 if history.interrupted else 0


def _communicator(args: argparse.Namespace) -> Any:
    """The communicator for ``--distributed`` (a single process without it). With CuPy and
    no --device, each rank takes the GPU ``rank % count``."""
    from . import comm as comm_module

    if not getattr(args, "distributed", None):
        return comm_module.Single()
    kind = args.distributed
    if kind == "auto":
        kind = "nccl" if args.backend == "cupy" else "mpi"
    comm = comm_module.get(kind)
    if args.backend == "cupy" and args.device is None and gpu_count():
        args.device = comm.rank % gpu_count()
    return comm


def _write_metrics(args: argparse.Namespace, metrics: dict[str, Any]) -> None:
    if args.metrics_out:
        from .atomic import write_bytes

        path = Path(args.metrics_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, json.dumps(metrics, indent=2).encode())
        _say(args, f"wrote metrics to {path}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import network
    from .metrics import accuracy, confusion_matrix, report

    net = network.load(args.model, backend=args.backend, device=args.device)
    regression = not net.is_classifier
    args.task = "regression" if regression else "classification"   # the model's own task
    ds = _load_dataset(args)
    X, y = (ds.X_test, ds.y_test) if ds.X_test is not None else (ds.X_train, ds.y_train)
    assert y is not None
    X = _prepare(net, X, args.model)
    if regression:
        if net.n_outputs != 1:
            raise DataError(f"{args.model} predicts {net.n_outputs} values per example; a CSV "
                            "label column holds one")
        scores = regression_scores(y, to_numpy(net.forward(X))[:, 0])
        print(f"RMSE {scores['rmse']:.6g}  MAE {scores['mae']:.6g}  R^2 {scores['r2']:.4f} "
              f"on {len(y)} examples of {ds.name}")
        return 0
    k = max(2, net.n_outputs)
    if int(y.max(initial=0)) >= k:
        raise DataError(f"{args.dataset}: labels go up to {int(y.max())} but the model knows "
                        f"{k} classes")
    pred = to_numpy(net.predict(X))
    C = confusion_matrix(y, pred, k)
    print(f"accuracy {accuracy(y, pred):.4f} on {len(y)} examples of {ds.name}")
    print(report(C, net.class_names))
    return 0


def _prepare(net: Any, X: np.ndarray, model: str) -> np.ndarray:
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        raise DataError(f"inputs have {X.shape[-1]} features per example but {model} expects "
                        f"{net.n_inputs}")
    dtype = np.float64 if net.dtype_name == "float64" else np.float32
    return net.preprocessing.transform(X, dtype) if net.preprocessing else X.astype(dtype)


def _read_inputs(path: str, n_inputs: int) -> np.ndarray:
    p = Path(path)
    if p.suffix == ".npy":
        try:
            X = np.load(p, allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"{p}: file not found") from None
        except (ValueError, OSError) as exc:
            raise DataError(f"{p}: not a readable .npy array ({exc})") from None
        return X.reshape(len(X), -1)
    if "idx" in p.name:
        X = datasets.read_idx(p)
        return X.reshape(X.shape[0], -1)
    from .datasets.tabular import read_matrix

    return read_matrix(p, n_inputs)


def cmd_predict(args: argparse.Namespace) -> int:
    from . import network

    net = network.load(args.model, backend=args.backend, device=args.device)
    X = _prepare(net, _read_inputs(args.input, net.n_inputs), args.model)
    if not net.is_classifier:   # regression: the values
        values = to_numpy(net.forward(X))
        lines = ["index,prediction"] + [f"{i}," + ",".join(f"{v:.8g}" for v in row)
                                        for i, row in enumerate(values)]
    else:
        pred = to_numpy(net.predict(X))
        names = net.class_names
        lines = ["index,prediction"] + [
            f"{i},{names[c] if names and c < len(names) else c}" for i, c in enumerate(pred)]
    text = "\n".join(lines) + "\n"
    if args.out:
        from .atomic import write_bytes

        write_bytes(Path(args.out), text.encode())
        _say(args, f"wrote {len(pred)} predictions to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from . import network

    out = Path(args.out)
    if out.suffix not in (".onnx", ".safetensors", ".npz"):
        raise UsageError(f"{out}: name the output .onnx, .safetensors or .npz")
    net = network.load(args.model, backend="numpy")
    try:
        if out.suffix == ".onnx":
            from .export import IR_VERSION, OPSET

            net.to_onnx(out)
            what = f"ONNX (opset {OPSET}, IR version {IR_VERSION})"
        else:
            net.save(out)
            what = out.suffix[1:]
    except ImportError as exc:  # the optional extra that format needs
        raise UsageError(str(exc)) from None
    _say(args, f"wrote {out}: {net!r} as {what}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(f"xpnet {__version__}, Python {platform.python_version()} on {platform.platform()}")
    print(f"CPU cores: {os.cpu_count()}")
    print(f"numpy {np.__version__}, BLAS: {_blas()}")
    for entry in available():
        if entry["available"]:
            print(f"  {entry['backend']:<17} {entry['version']:<12} "
                  f"devices: {', '.join(entry['devices'])}")
        else:
            print(f"  {entry['backend']:<17} unavailable: {entry['reason']}")
    return 0


def _blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict form
        return "unknown"


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args)


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "export": cmd_export, "info": cmd_info, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except (UsageError, DataError, ModelFileError, BackendError, TrainingDiverged,
            ValueError, TypeError, OSError) as exc:
        if args.debug:
            raise
        print(f"xpnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
