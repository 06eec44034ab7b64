"""``xpnet train``: check the request before any work, read a checkpoint once, load the data,
then cross-validate, or fit, test, save, plot and write the metrics."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, datasets
from ..backend import resolve, to_numpy
from ..errors import ModelFileError
from ..metrics import regression_scores
from .common import UsageError, dataset_key, load_dataset, result, say, write_metrics
from .plan import Plan


def cmd_train(args: argparse.Namespace) -> int:
    """``xpnet train``: check the request, read a checkpoint once, load the data, then either
    cross-validate or fit, test, save, plot and write metrics."""
    _preflight(args)
    comm, device = _communicator(args)
    ck = _read_resume(args.resume)
    opts = _settings(args, ck, comm, device)
    ds = load_dataset(opts)
    plan = Plan.make(opts, ds, ck)
    if ck is not None and ck.state["epochs_done"] >= plan.epochs:
        raise UsageError(f"{ck.path} has done {ck.state['epochs_done']} epochs already, all of "
                         f"the {plan.epochs} asked for; ask for more epochs to continue "
                         f"(--epochs {ck.state['epochs_done'] + plan.epochs})")
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
    _outputs(opts, plan, net, history, (X_test_scaled, X_test, y_test), ds, metrics)
    return _interrupted(opts, history)


def _outputs(opts: argparse.Namespace, plan: Plan, net: Any, history: Any,
             test: tuple[Any, Any, Any], ds: datasets.Dataset, metrics: dict[str, Any]
             ) -> None:
    """The model file, the plots and the metrics, each written whatever happens to the
    others; a failure is one line naming what was not written (exit status 2)."""
    failed = []

    def attempt(what: str, write: Any) -> None:
        try:
            write()
        except (OSError, ValueError) as exc:
            failed.append(f"{what} not written ({exc})")

    if opts.save:
        resumed = opts.save_from_checkpoint
        attempt("the model", lambda: say(opts, f"saved model to {net.save(opts.save)}" + (
            " (where the run's --save pointed)" if resumed else "")))
    if opts.plot:
        from .. import plot

        X_scaled, X_raw, y = test
        attempt("the plots", lambda: say(opts, "wrote " + ", ".join(str(p) for p in (
            plot.all_figures(opts.plot, net, history, X_scaled,
                             None if plan.regression else y, X_raw, ds.image_shape)))))
    attempt("the metrics", lambda: write_metrics(opts, metrics))
    if failed:
        raise UsageError("; ".join(failed))


def _preflight(args: argparse.Namespace) -> None:
    """Refuse, before any work, what would fail only after training."""
    if args.plot:
        from .. import plot

        try:
            plot.pyplot()  # fail now, not after training, when matplotlib is missing
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    if args.tensorboard:
        try:
            import tensorboardX  # noqa: F401  (fail now, not after training)
        except ImportError as exc:
            raise UsageError(f"--tensorboard writes through tensorboardX ({exc}): pip install "
                             "'xpnet[tensorboard]'") from None
    if args.save and Path(args.save).suffix == ".safetensors":
        from .. import safetensors_file

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
    if args.reduce_on_plateau and not args.validation_split:
        raise UsageError("--reduce-on-plateau needs --validation-split (it watches val_loss)")
    if args.save_best and not args.validation_split:
        raise UsageError("--save-best needs --validation-split (it keeps the best val_loss)")
    if args.save_best and Path(args.save_best).suffix not in (".npz", ".safetensors"):
        raise UsageError(f"--save-best {args.save_best}: name the model file .npz or "
                         ".safetensors")
    if args.checkpoint_every and not (args.checkpoint or args.resume or args.save):
        raise UsageError("--checkpoint-every needs --checkpoint PATH or --save PATH")
    if args.save and Path(args.save).suffix not in (".npz", ".safetensors"):
        raise UsageError(f"--save {args.save}: name the model file .npz or .safetensors")
    for flag, path in (("--save", args.save), ("--save-best", args.save_best),
                       ("--checkpoint", args.checkpoint), ("--log-csv", args.log_csv),
                       ("--tensorboard", args.tensorboard),
                       ("--metrics-out", args.metrics_out), ("--plot", args.plot)):
        if path:
            _check_writable(flag, Path(path), folder=flag in ("--plot", "--tensorboard"))
    if args.compile and not resolve(args.backend, args.device).compiles:
        raise UsageError(f"--compile needs --backend torch (the step compiled with "
                         f"torch.compile); the {resolve(args.backend, args.device).name} "
                         "backend runs the step as it is: drop --compile")


def _check_writable(flag: str, path: Path, folder: bool = False) -> None:
    """Refuse, before training, an output path that cannot be written: its nearest existing
    folder must be a writable folder (and the path itself, when it exists, a file, or for
    ``folder`` a folder)."""
    if path.exists() and path.is_dir() != folder:
        raise UsageError(f"{flag} {path}: a {'file' if folder else 'folder'} is in the way")
    ancestor = path if folder and path.exists() else path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{flag} {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {ancestor} is not writable")


def _read_resume(path: str | None) -> Any:
    """The checkpoint to resume from, read once (None without --resume)."""
    if not path:
        return None
    from ..checkpoints import read_checkpoint

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
    opts.save_from_checkpoint = opts.save is None and bool(saved.get("save"))
    if opts.save_from_checkpoint:   # a resumed run saves where the original run's --save did
        opts.save = saved["save"]
    opts.saved_fit, opts.device, opts.comm = saved, device, comm
    opts.show_results = comm.is_root
    if not comm.is_root:
        opts.quiet, opts.save, opts.metrics_out, opts.plot = True, None, None, None
        opts.save_best = opts.log_csv = opts.tensorboard = None
    return opts


def _cross_validation(opts: argparse.Namespace, plan: Plan, ds: datasets.Dataset) -> int:
    from ..cross_validation import cross_validate

    say(opts, f"{opts.cv}-fold cross-validation of {plan.network()!r} on {ds!r}")
    t0 = time.perf_counter()
    kwargs = {**plan.fit_kwargs(), "progress": False}   # one line per fold, not per epoch
    cv = cross_validate(plan.network, ds.X_train, ds.y_train, opts.cv, scaling=plan.scaling,
                        seed=opts.seed, optimizer=plan.optimizer, report=not opts.quiet,
                        **kwargs)
    seconds = time.perf_counter() - t0
    result(opts, f"cv accuracy {cv['mean']:.4f} +/- {cv['std']:.4f} "
         f"(folds: {', '.join(f'{a:.3f}' for a in cv['fold_accuracy'])}) in {seconds:.1f}s")
    write_metrics(opts, {"dataset": ds.name, "xpnet_version": __version__,
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


def _training_data(opts: argparse.Namespace, ds: datasets.Dataset, n_train: int,
                   n_test: int) -> dict[str, Any]:
    """What the model file records of its data: the dataset, its label column and task, and
    the test split that held rows out (None when the dataset has a test set of its own)."""
    split = None if ds.X_test is not None else (0.2 if opts.test_split is None
                                                  else opts.test_split) or None
    n_val = int(round(opts.validation_split * n_train))
    return {"dataset": dataset_key(opts.dataset), "label_column": opts.label_column,
            "task": ds.task, "test_split": split, "seed": opts.seed,
            "rows": {"train": n_train - n_val, "validation": n_val, "test": n_test}}


def _model(opts: argparse.Namespace, plan: Plan, ds: datasets.Dataset, ck: Any,
           X_train: Any) -> Any:
    """A new network with its input scaling fitted on the training rows, or the checkpoint's."""
    from ..loading import from_contents
    from ..preprocess import Scaler

    if ck is not None:
        return from_contents(ck.path, ck.header, ck.arrays, ck.shown, backend=opts.backend,
                             device=opts.device, precision=opts.precision)
    net = plan.network()
    net.preprocessing = Scaler(plan.scaling).fit(X_train)
    net.class_names = None if plan.regression else list(ds.class_names)
    return net


def _fit(opts: argparse.Namespace, plan: Plan, net: Any, X_train: Any, y_train: Any,
         ds: datasets.Dataset, comm: Any, ck: Any) -> tuple[Any, float]:
    from ..callbacks import (
        Callback,
        CSVLogger,
        EarlyStopping,
        ModelCheckpoint,
        ReduceLROnPlateau,
        TensorBoard,
    )
    from ..train import fit

    Xtr = net.preprocessing.transform(X_train, _np_dtype(net))
    rows = net.training_data["rows"]
    split = ", ".join(f"{rows[k]} {k}" for k in ("train", "validation", "test") if rows[k])
    say(opts, f"training {net!r} on {ds.name} ({split} rows; {ds.n_features} features, "
         + (f"{ds.n_classes} classes)" if ds.task != "regression" else "a real-valued target)")
         + (f", data-parallel over {comm.size} {comm.name.upper()} ranks" if comm.size > 1
            else ""))
    say(opts, f"  {net.backend.describe()}, optimizer {plan.optimizer!r}, batch "
         f"{plan.batch_size}, {plan.epochs} epochs"
         + (f", {plan.schedule.name} schedule" if plan.schedule.name != "constant" else "")
         + (f", dropout {plan.dropout}" if plan.dropout else "")
         + (f", l2 {plan.l2}" if plan.l2 else ""))
    checkpoint = opts.checkpoint or opts.resume or (
        f"{opts.save}.ckpt.npz" if opts.save and opts.checkpoint_every else None)
    callbacks: list[Callback] = ([EarlyStopping(patience=opts.early_stopping)]
                                 if opts.early_stopping else [])
    if opts.save_best:
        callbacks.append(ModelCheckpoint(opts.save_best, monitor="val_loss"))
    if opts.reduce_on_plateau:
        callbacks.append(ReduceLROnPlateau(patience=opts.reduce_on_plateau))
    if opts.log_csv:
        callbacks.append(CSVLogger(opts.log_csv, append=ck is not None))
    if opts.tensorboard:
        callbacks.append(TensorBoard(opts.tensorboard))
    notes = {"dataset": dataset_key(opts.dataset),
             "label_column": opts.label_column, "test_split": opts.test_split,
             "seed": opts.seed, "task": opts.task,
             "save": str(Path(opts.save).resolve()) if opts.save else None}
    t0 = time.perf_counter()
    history = fit(net, Xtr, y_train, optimizer=plan.optimizer, callbacks=callbacks,
                  checkpoint=checkpoint, checkpoint_every=opts.checkpoint_every or 1,
                  resume=ck, notes=notes, **plan.fit_kwargs())
    opts.checkpoint_written = checkpoint
    return history, time.perf_counter() - t0


def _np_dtype(net: Any) -> Any:
    return np.float64 if net.dtype_name == "float64" else np.float32


def _test(opts: argparse.Namespace, plan: Plan, net: Any, X_test: Any, y_test: Any,
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
        result(opts, f"test RMSE {scores['rmse']:.4g}  MAE {scores['mae']:.4g}  "
             f"R^2 {scores['r2']:.4f} on {len(y_test)} examples {after}")
    else:
        pred = to_numpy(net.predict_index(X))
        acc = float(np.mean(pred == y_test))
        metrics["test_accuracy"] = acc
        result(opts, f"test accuracy {acc:.4f} ({int(np.sum(pred == y_test))}/{len(y_test)}) "
             f"{after}")
    return X


def _interrupted(opts: argparse.Namespace, history: Any) -> int:
    """The exit status: 0, or for a run a signal stopped 130 (SIGINT) or 143 (SIGTERM), after
    saying how to continue it."""
    if not history.interrupted:
        return 0
    ck = opts.checkpoint_written
    if ck and Path(ck).exists():
        say(opts, f"to continue: xpnet train --resume {ck}")
    elif not ck:
        say(opts, "no checkpoint was asked for (--checkpoint PATH), so a rerun starts over")
    return 143 if history.signal == "SIGTERM" else 130


def _communicator(args: argparse.Namespace) -> tuple[Any, Any]:
    """The communicator for ``--distributed`` (a single process without it), and the device
    this rank trains on. ``auto`` means the collective of the backend *resolved*
    ([`xpnet.backend.Backend.collective`][xpnet.backend.base.Backend.collective]: NCCL for CuPy,
    ``--backend auto`` on a GPU machine included; MPI otherwise); with no --device each rank takes
    the backend's device for it (on CuPy, GPU ``rank % count``)."""
    from .. import comm as comm_module

    if not getattr(args, "distributed", None):
        return comm_module.Single(), args.device
    backend = resolve(args.backend, args.device)
    kind = backend.collective if args.distributed == "auto" else args.distributed
    comm = comm_module.get(kind, device=args.device)
    device = args.device if args.device is not None else backend.device_for_rank(comm.rank)
    return comm, device
