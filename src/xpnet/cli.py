"""The ``xpnet`` command line: ``train``, ``evaluate``, ``predict``, ``info`` and ``bench``.

Errors in use (bad flags, bad files, an unavailable backend) print one line to stderr and exit
with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, activations, datasets, init, losses, optim, recipes, schedules
from .backend import BackendError, available, resolve, to_numpy
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


def _recipes_text() -> str:
    """The defaults each kind of dataset trains with, for ``xpnet train --help``."""
    def line(recipe: dict[str, Any]) -> str:
        parts = [f"--hidden {' '.join(map(str, recipe['hidden']))}" if "hidden" in recipe
                 else "--hidden (2 x features, 8..64)"]
        parts += [f"--activation {recipe['activation']}", f"--optimizer {recipe['optimizer']}",
                  f"--lr {recipe['lr']}", f"--batch-size {recipe['batch_size']}",
                  f"--epochs {recipe['epochs']}"]
        parts += [f"--{k} {recipe[k]}" for k in ("schedule", "dropout", "l2")
                  if recipe.get(k) not in (None, 0.0, "constant")]
        return " ".join(parts)

    rows = [("images (mnist, IDX folders)", recipes.IMAGES), ("tables (.csv, wheat-seeds)",
                                                              recipes.TABLE)]
    rows += [(name, recipe) for name, recipe in recipes.TOY.items()]
    return ("defaults when a flag is not given (the dataset's recipe):\n"
            + "\n".join(f"  {name}: {line(r)}" for name, r in rows)
            + "\nchanging --hidden or --activation drops the recipe's dropout and L2; changing "
              "--optimizer or --lr drops its schedule")


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

    t = sub.add_parser("train", help="train a network (default: the MNIST recipe)",
                       epilog=_recipes_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    common(t)
    t.add_argument("--dataset",
                   help="mnist (the default), wheat-seeds (shipped with xpnet), xor, spirals, "
                        "moons, a .csv file, or a folder of IDX files; with --resume, the "
                        "checkpoint's dataset by default")
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
    t.add_argument("--compile", action="store_true",
                   help="compile the training step whole (the torch backend: torch.compile; "
                        "the first epoch includes seconds of compilation)")
    t.add_argument("--plot", metavar="DIR",
                   help="write PNGs of the training curves, confusion matrix, misclassified "
                        "images and first-layer weights (needs: pip install 'xpnet[plot]')")

    e = sub.add_parser("evaluate", help="accuracy and confusion matrix of a saved model")
    common(e)
    e.add_argument("model")
    e.add_argument("--dataset",
                   help="the data to score (default: the dataset the model records, whose "
                        "held-out test rows are scored; mnist for models that record none)")
    e.add_argument("--label-column", type=int,
                   help="CSV label column (default: the model's, else -1)")
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
    b.add_argument("--compile", action="store_true",
                   help="time the step compiled whole (the torch backend: torch.compile)")
    b.add_argument("--json", metavar="PATH", help="write the raw figures as JSON")
    b.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks for errors")
    return p


# --------------------------------------------------------------------------- commands
def _say(args: argparse.Namespace, *parts: Any) -> None:
    """Progress and diagnostics: stderr (``--quiet`` silences them)."""
    if not getattr(args, "quiet", False):
        print(*parts, file=sys.stderr, flush=True)


def _result(args: argparse.Namespace, *parts: Any) -> None:
    """A command's result: stdout, so that ``> out.txt`` keeps it (``--quiet`` silences it)."""
    if not getattr(args, "quiet", False):
        print(*parts, flush=True)


def _load_dataset(args: argparse.Namespace) -> datasets.Dataset:
    return datasets.load(args.dataset, data_dir=args.data_dir, label_column=args.label_column,
                         download=not args.no_download, progress=not args.quiet,
                         task=getattr(args, "task", None) or "auto")


def cmd_train(args: argparse.Namespace) -> int:
    """``xpnet train``: check the request, read a checkpoint once, load the data, then either
    cross-validate or fit, test, save, plot and write metrics."""
    _preflight(args)
    comm, device = _communicator(args)
    ck = _read_resume(args.resume)
    opts = _settings(args, ck, comm, device)
    ds = _load_dataset(opts)
    plan = _Plan.make(opts, ds, ck)
    if opts.cv:
        return _cross_validation(opts, plan, ds)
    X_train, y_train, X_test, y_test = _train_test(opts, ds)
    net = _model(opts, plan, ds, ck, X_train)
    net.training_data = _training_data(opts, ds, len(y_train),
                                       0 if y_test is None else len(y_test))
    history, seconds = _fit(opts, plan, net, X_train, y_train, ds, comm, ck)
    metrics: dict[str, Any] = {
        "dataset": ds.name, "xpnet_version": __version__, "epochs": len(history.epoch),
        "train_seconds": seconds, "history": history.as_dict(), "network": net.config(),
        "backend": net.backend.describe(), "optimizer": plan.optimizer.config()}
    X_test_scaled = _test(opts, plan, net, X_test, y_test, history, seconds, metrics)
    if opts.save:
        _say(opts, f"saved model to {net.save(opts.save)}")
    if opts.plot:
        from . import plot

        written = plot.all_figures(opts.plot, net, history, X_test_scaled,
                                   None if plan.regression else y_test, X_test, ds.image_shape)
        _say(opts, f"wrote {', '.join(str(p) for p in written)}")
    _write_metrics(opts, metrics)
    return _interrupted(opts, history)


def _preflight(args: argparse.Namespace) -> None:
    """Refuse, before any work, what would fail only after training."""
    if args.plot:
        from . import plot

        try:
            plot.pyplot()  # fail now, not after training, when matplotlib is missing
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    if args.save and Path(args.save).suffix == ".safetensors":
        from . import safetensors_file

        try:
            safetensors_file.library()  # likewise for the safetensors library
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    if args.cv and args.distributed:
        raise UsageError("--cv runs its folds in one process; drop --distributed")
    if args.cv and (args.save or args.resume):
        raise UsageError("--cv estimates accuracy only; train without --cv to --save a model")
    if args.cv == 1:
        raise UsageError("--cv needs K >= 2 folds")
    if args.early_stopping and not args.validation_split:
        raise UsageError("--early-stopping needs --validation-split (it watches val_loss)")
    if args.checkpoint_every and not (args.checkpoint or args.resume or args.save):
        raise UsageError("--checkpoint-every needs --checkpoint PATH or --save PATH")


def _read_resume(path: str | None) -> Any:
    """The checkpoint to resume from, read once (None without --resume)."""
    if not path:
        return None
    from .train import read_checkpoint

    try:
        return read_checkpoint(path)
    except ModelFileError as exc:
        raise UsageError(str(exc)) from None


def _settings(args: argparse.Namespace, ck: Any, comm: Any, device: Any) -> argparse.Namespace:
    """The command's options with everything the flags leave open filled in: the data a
    resumed run continues on unless named again, the device of this rank, and on ranks other
    than 0 silence (only rank 0 prints, writes metrics, checkpoints and saves)."""
    opts = argparse.Namespace(**vars(args))
    saved = ck.state.get("fit", {}) if ck is not None else {}
    for name, default in (("dataset", "mnist"), ("label_column", -1), ("test_split", None),
                          ("seed", 0), ("task", "auto")):
        if getattr(opts, name) is None:
            setattr(opts, name, saved.get(name, default))
    opts.saved_fit, opts.device, opts.comm = saved, device, comm
    if not comm.is_root:
        opts.quiet, opts.save, opts.metrics_out, opts.plot = True, None, None, None
    return opts


@dataclass
class _Plan:
    """What ``train`` settles from the flags, the dataset's recipe and a checkpoint: the
    architecture, the cost, the optimizer and the schedule."""

    opts: argparse.Namespace
    recipe: dict[str, Any]
    n_features: int
    regression: bool
    n_out: int
    output: str
    loss: str
    optimizer: optim.Optimizer
    scaling: str

    def pick(self, name: str) -> Any:
        """The flag's value when given, else the recipe's."""
        value = getattr(self.opts, name)
        return self.recipe.get(name) if value is None else value

    @classmethod
    def make(cls, opts: argparse.Namespace, ds: datasets.Dataset, ck: Any) -> _Plan:
        recipe = recipes.for_dataset(ds)
        recipe.update({k: v for k, v in opts.saved_fit.items() if k in ("epochs", "batch_size")})
        # The recipe's regularisers belong to its architecture and optimizer: change those and
        # they fall back to none (so "--hidden 30 ... --lr 3.0" is the plain textbook network).
        if ck is None and (opts.hidden is not None or opts.activation is not None):
            recipe.update(dropout=0.0, l2=0.0)
        if ck is None and (opts.optimizer is not None or opts.lr is not None):
            recipe.update(schedule="constant")
        regression = ds.task == "regression"
        if regression and opts.cv:
            raise UsageError("--cv reports accuracy, and this label column is a real-valued "
                             "target; train with a test split (--test-split) instead")
        if regression:
            n_out, output, loss = 1, opts.output or "identity", opts.loss or "mse"
        else:
            n_out, output, loss = recipes.head(ds.n_classes, opts.output, opts.loss)
        plan = cls(opts, recipe, ds.n_features, regression, n_out, output, loss,
                   optim.SGD(), opts.scaling or ds.scaling)
        name = plan.pick("optimizer")
        kwargs = {"momentum": plan.pick("momentum")} if name in ("momentum", "nesterov") else {}
        # a resumed run continues with the checkpoint's optimizer
        plan.optimizer = (optim.get(name, plan.pick("lr"), **kwargs) if ck is None
                          else optim.from_config(ck.state["optimizer"]))
        return plan

    @property
    def epochs(self) -> int:
        return int(self.pick("epochs"))

    @property
    def batch_size(self) -> int:
        return int(self.pick("batch_size"))

    @property
    def dropout(self) -> float:
        return float(self.pick("dropout"))

    @property
    def l2(self) -> float:
        return float(self.pick("l2"))

    @functools.cached_property
    def schedule(self) -> schedules.Schedule:
        return schedules.get(self.pick("schedule"), epochs=self.epochs)

    def network(self) -> Any:
        from .network import Network

        o = self.opts
        return Network([self.n_features, *self.pick("hidden"), self.n_out],
                       hidden=self.pick("activation"), output=self.output, loss=self.loss,
                       init=o.init, bias_init=o.bias_init, dropout=self.dropout, l2=self.l2,
                       backend=o.backend, device=o.device, dtype=o.dtype, seed=o.seed)

    def fit_kwargs(self) -> dict[str, Any]:
        o = self.opts
        kwargs = dict(epochs=self.epochs, batch_size=self.batch_size, schedule=self.schedule,
                      progress=not o.quiet, validation_split=o.validation_split,
                      compile=o.compile)
        if o.comm.size > 1:
            kwargs["comm"] = o.comm
        return kwargs


def _cross_validation(opts: argparse.Namespace, plan: _Plan, ds: datasets.Dataset) -> int:
    from .cross_validation import cross_validate

    _say(opts, f"{opts.cv}-fold cross-validation of {plan.network()!r} on {ds!r}")
    t0 = time.perf_counter()
    kwargs = {**plan.fit_kwargs(), "progress": False}   # one line per fold, not per epoch
    cv = cross_validate(plan.network, ds.X_train, ds.y_train, opts.cv, scaling=plan.scaling,
                        seed=opts.seed, optimizer=plan.optimizer, report=not opts.quiet,
                        **kwargs)
    seconds = time.perf_counter() - t0
    _result(opts, f"cv accuracy {cv['mean']:.4f} +/- {cv['std']:.4f} "
         f"(folds: {', '.join(f'{a:.3f}' for a in cv['fold_accuracy'])}) in {seconds:.1f}s")
    _write_metrics(opts, {"dataset": ds.name, "xpnet_version": __version__,
                          "cv_accuracy": cv["mean"], "cv_std": cv["std"],
                          "cv_fold_accuracy": cv["fold_accuracy"], "epochs": plan.epochs,
                          "train_seconds": seconds, "network": plan.network().config()})
    return 0


def _train_test(opts: argparse.Namespace, ds: datasets.Dataset) -> tuple[Any, Any, Any, Any]:
    """The training rows and the test rows: the dataset's own test set, or a split of the
    training file (``--test-split``, 0.2 by default)."""
    X_train, y_train, X_test, y_test = ds.X_train, ds.y_train, ds.X_test, ds.y_test
    test_split = 0.2 if opts.test_split is None else opts.test_split
    if X_test is None and test_split:
        X_train, y_train, X_test, y_test = datasets.split(X_train, y_train, test_split, opts.seed)
    return X_train, y_train, X_test, y_test


def _dataset_key(spec: str) -> str:
    """A dataset as a model records it: a file or folder by its absolute path, else its name."""
    where = Path(spec)
    return str(where.resolve()) if where.exists() else spec


def _training_data(opts: argparse.Namespace, ds: datasets.Dataset, n_train: int,
                   n_test: int) -> dict[str, Any]:
    """What the model file records of its data: the dataset, its label column and task, and
    the test split that held rows out (None when the dataset has a test set of its own)."""
    split = None if ds.X_test is not None else (0.2 if opts.test_split is None
                                                  else opts.test_split) or None
    n_val = int(round(opts.validation_split * n_train))
    return {"dataset": _dataset_key(opts.dataset), "label_column": opts.label_column,
            "task": ds.task, "test_split": split, "seed": opts.seed,
            "rows": {"train": n_train - n_val, "validation": n_val, "test": n_test}}


def _model(opts: argparse.Namespace, plan: _Plan, ds: datasets.Dataset, ck: Any,
           X_train: Any) -> Any:
    """A new network with its input scaling fitted on the training rows, or the checkpoint's."""
    from .loading import from_contents
    from .preprocess import Scaler

    if ck is not None:
        return from_contents(ck.path, ck.header, ck.arrays, ck.shown, backend=opts.backend,
                             device=opts.device)
    net = plan.network()
    net.preprocessing = Scaler(plan.scaling).fit(X_train)
    net.class_names = None if plan.regression else list(ds.class_names)
    return net


def _fit(opts: argparse.Namespace, plan: _Plan, net: Any, X_train: Any, y_train: Any,
         ds: datasets.Dataset, comm: Any, ck: Any) -> tuple[Any, float]:
    from .callbacks import Callback, EarlyStopping
    from .train import fit

    Xtr = net.preprocessing.transform(X_train, _np_dtype(net))
    rows = net.training_data["rows"]
    split = ", ".join(f"{rows[k]} {k}" for k in ("train", "validation", "test") if rows[k])
    _say(opts, f"training {net!r} on {ds.name} ({split} rows; {ds.n_features} features, "
         + (f"{ds.n_classes} classes)" if ds.task != "regression" else "a real-valued target)")
         + (f", data-parallel over {comm.size} {comm.name.upper()} ranks" if comm.size > 1
            else ""))
    _say(opts, f"  {net.backend.describe()}, optimizer {plan.optimizer!r}, batch "
         f"{plan.batch_size}, {plan.epochs} epochs"
         + (f", {plan.schedule.name} schedule" if plan.schedule.name != "constant" else "")
         + (f", dropout {plan.dropout}" if plan.dropout else "")
         + (f", l2 {plan.l2}" if plan.l2 else ""))
    checkpoint = opts.checkpoint or opts.resume or (
        f"{opts.save}.ckpt.npz" if opts.save and opts.checkpoint_every else None)
    callbacks: list[Callback] = ([EarlyStopping(patience=opts.early_stopping)]
                                 if opts.early_stopping else [])
    notes = {"dataset": _dataset_key(opts.dataset),
             "label_column": opts.label_column, "test_split": opts.test_split,
             "seed": opts.seed, "task": opts.task}
    t0 = time.perf_counter()
    history = fit(net, Xtr, y_train, optimizer=plan.optimizer, callbacks=callbacks,
                  checkpoint=checkpoint, checkpoint_every=opts.checkpoint_every or 1,
                  resume=ck, notes=notes, **plan.fit_kwargs())
    opts.checkpoint_written = checkpoint
    return history, time.perf_counter() - t0


def _np_dtype(net: Any) -> Any:
    return np.float64 if net.dtype_name == "float64" else np.float32


def _test(opts: argparse.Namespace, plan: _Plan, net: Any, X_test: Any, y_test: Any,
          history: Any, seconds: float, metrics: dict[str, Any]) -> Any:
    """Score the trained network on the test rows (if any) into ``metrics``; returns the
    scaled test inputs (for the plots)."""
    if X_test is None:
        return None
    X = net.preprocessing.transform(X_test, _np_dtype(net))
    after = f"after {len(history.epoch)} epochs in {seconds:.1f}s"
    if plan.regression:
        scores = regression_scores(y_test, to_numpy(net.forward(X))[:, 0])
        metrics.update({f"test_{k}": v for k, v in scores.items()})
        _result(opts, f"test RMSE {scores['rmse']:.4g}  MAE {scores['mae']:.4g}  "
             f"R^2 {scores['r2']:.4f} on {len(y_test)} examples {after}")
    else:
        pred = to_numpy(net.predict(X))
        acc = float(np.mean(pred == y_test))
        metrics["test_accuracy"] = acc
        _result(opts, f"test accuracy {acc:.4f} ({int(np.sum(pred == y_test))}/{len(y_test)}) "
             f"{after}")
    return X


def _interrupted(opts: argparse.Namespace, history: Any) -> int:
    """The exit status: 0, or for a run a signal stopped 130 (SIGINT) or 143 (SIGTERM), after
    saying how to continue it."""
    if not history.interrupted:
        return 0
    ck = opts.checkpoint_written
    if ck and Path(ck).exists():
        _say(opts, f"to continue: xpnet train --resume {ck}")
    elif not ck:
        _say(opts, "no checkpoint was asked for (--checkpoint PATH), so a rerun starts over")
    return 143 if history.signal == "SIGTERM" else 130


def _communicator(args: argparse.Namespace) -> tuple[Any, Any]:
    """The communicator for ``--distributed`` (a single process without it), and the device
    this rank trains on. ``auto`` means the collective of the backend *resolved*
    (:attr:`xpnet.backend.Backend.collective`: NCCL for CuPy, ``--backend auto`` on a GPU
    machine included; MPI otherwise); with no --device each rank takes the backend's device
    for it (on CuPy, GPU ``rank % count``)."""
    from . import comm as comm_module

    if not getattr(args, "distributed", None):
        return comm_module.Single(), args.device
    backend = resolve(args.backend, args.device)
    kind = backend.collective if args.distributed == "auto" else args.distributed
    comm = comm_module.get(kind, device=args.device)
    device = args.device if args.device is not None else backend.device_for_rank(comm.rank)
    return comm, device


def _write_metrics(args: argparse.Namespace, metrics: dict[str, Any]) -> None:
    if args.metrics_out:
        from .atomic import write_bytes

        path = Path(args.metrics_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, json.dumps(metrics, indent=2).encode())
        _say(args, f"wrote metrics to {path}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``xpnet evaluate``: score a model on a dataset's test rows: its own test set, or the rows
    the model's training held out (the split it records), or else all rows, saying which."""
    from . import loading
    from .metrics import accuracy, confusion_matrix, report

    net = loading.load(args.model, backend=args.backend, device=args.device)
    X, y, which = _rows_to_score(args, net)
    X = _prepare(net, X, args.model)
    if not net.is_classifier:
        if net.n_outputs != 1:
            raise DataError(f"{args.model} predicts {net.n_outputs} values per example; a CSV "
                            "label column holds one")
        scores = regression_scores(y, to_numpy(net.forward(X))[:, 0])
        print(f"RMSE {scores['rmse']:.6g}  MAE {scores['mae']:.6g}  R^2 {scores['r2']:.4f} "
              f"on {which}")
        return 0
    k = max(2, net.n_outputs)
    if int(y.max(initial=0)) >= k:
        raise DataError(f"labels go up to {int(y.max())} but {args.model} knows {k} classes")
    pred = to_numpy(net.predict(X))
    C = confusion_matrix(y, pred, k)
    print(f"accuracy {accuracy(y, pred):.4f} on {which}")
    print(report(C, net.class_names))
    return 0


def _rows_to_score(args: argparse.Namespace, net: Any) -> tuple[Any, Any, str]:
    """The rows ``evaluate`` scores, and a phrase saying which they are."""
    record = net.training_data or {}
    spec = args.dataset or record.get("dataset")
    if spec is None:
        if net.n_inputs != 784:
            raise UsageError(f"{args.model} records no dataset; name the data to score with "
                             "--dataset DATA")
        spec = "mnist"
    same = record.get("dataset") == _dataset_key(spec)
    opts = argparse.Namespace(**vars(args))
    opts.dataset = spec
    opts.task = "classification" if net.is_classifier else "regression"   # the model's own
    if opts.label_column is None:
        opts.label_column = record.get("label_column", -1) if same else -1
    ds = _load_dataset(opts)
    name = Path(spec).name if Path(spec).exists() else spec
    if ds.X_test is not None:
        assert ds.y_test is not None
        return ds.X_test, ds.y_test, f"the {len(ds.y_test)} test examples of {name}"
    if same and record.get("test_split"):
        fraction, seed = record["test_split"], record.get("seed", 0)
        _, _, X, y = datasets.split(ds.X_train, ds.y_train, fraction, seed)
        return X, y, (f"the {len(y)} rows of {name} that training held out (test split "
                      f"{fraction}, seed {seed})")
    trained = " (training rows included)" if same else ""
    return ds.X_train, ds.y_train, f"all {len(ds.y_train)} rows of {name}{trained}"


def _prepare(net: Any, X: np.ndarray, model: str) -> np.ndarray:
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        raise DataError(f"inputs have {X.shape[-1]} features per example but {model} expects "
                        f"{net.n_inputs}")
    dtype = np.float64 if net.dtype_name == "float64" else np.float32
    if not net.preprocessing:
        return X.astype(dtype)
    warning = net.preprocessing.range_warning(X)
    if warning:
        print(f"xpnet: warning: {warning}", file=sys.stderr)
    return net.preprocessing.transform(X, dtype)


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
    from . import loading

    net = loading.load(args.model, backend=args.backend, device=args.device)
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
    from . import loading

    out = Path(args.out)
    if out.suffix not in (".onnx", ".safetensors", ".npz"):
        raise UsageError(f"{out}: name the output .onnx, .safetensors or .npz")
    net = loading.load(args.model, backend="numpy")
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
                  f"devices: {', '.join(entry['devices'])}; kernels: {entry['kernels']}"
                  + (" (fused, numba: XPNET_KERNELS=numba)"
                     if entry["kernels"] == "numba" else ""))
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
    from .network import Network

    return bench_main(args, lambda sizes, backend, dtype: Network(
        sizes, hidden="relu", backend=backend, dtype=dtype, seed=0))


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
    except BrokenPipeError:   # the reader went away (xpnet evaluate ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
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
