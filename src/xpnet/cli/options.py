"""The command line's grammar: every command and flag, the types that check values as they are
read, and the defaults each kind of dataset trains with (shown by ``xpnet train --help``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from .. import __version__, activations, init, losses, optim, precision, recipes, schedules
from .common import EXIT_USAGE


def checked(convert: Any, ok: Any, requirement: str) -> Any:
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


positive_int = checked(int, lambda v: v >= 1, ">= 1")
fraction = checked(float, lambda v: 0.0 <= v < 1.0, "in [0, 1)")
positive_float = checked(float, lambda v: 0.0 < v < float("inf"), "a finite number > 0")
nonneg_float = checked(float, lambda v: 0.0 <= v < float("inf"), "a finite number >= 0")


PRECISIONS = tuple(precision.POLICIES)


def precision_name(text: str) -> str:
    """A precision policy's name, Keras's aliases (``mixed_bfloat16``) turned into it."""
    try:
        return precision.get(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_in_precision(sp: argparse.ArgumentParser) -> None:
    """``--precision`` for a command that runs a saved model."""
    sp.add_argument("--precision", choices=PRECISIONS, type=precision_name,
                    help="the precision policy to run the model in (default: the one it was "
                         "trained in; 32 runs a mixed precision model on any backend)")


def hidden_size(text: str) -> int:
    """A hidden layer's size (an integer >= 1), or ``none`` (0: no hidden layer)."""
    return 0 if text.strip().lower() == "none" else positive_int(text)


class Parser(argparse.ArgumentParser):
    """Usage mistakes in one line (the full usage is one ``--help`` away); ``commands`` holds
    each command's own parser, whose help a mistake in that command points to."""

    commands: Mapping[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def recipes_text() -> str:
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


def build_parser() -> Parser:
    p = Parser(
        prog="xpnet", description="Train and use dense neural networks on NumPy, CuPy, "
        "PyTorch or array-api-strict.")
    p.add_argument("--version", action="version", version=f"xpnet {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    p.commands = sub.choices

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
                       epilog=recipes_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    common(t)
    t.add_argument("--dataset",
                   help="mnist (the default), wheat-seeds (shipped with xpnet), xor, spirals, "
                        "moons, a .csv file, or a folder of IDX files; with --resume, the "
                        "checkpoint's dataset by default")
    t.add_argument("--label-column", metavar="COLUMN",
                   help="CSV label column: an index (0 the first, -1 the last: the default) "
                        "or its header name")
    t.add_argument("--task", choices=("auto", "classification", "regression"),
                   help="for a CSV: classes or a real-valued target (default auto: a target "
                        "when a label has a fraction, or whole numbers take more than 20 "
                        "values, or over half the rows a value of their own; else classes)")
    t.add_argument("--no-download", action="store_true", help="never download data")
    t.add_argument("--hidden", type=hidden_size, nargs="+", metavar="SIZE",
                   help="hidden layer sizes, e.g. --hidden 64 32 (--hidden none: no hidden "
                        "layer)")
    t.add_argument("--activation", choices=activations.NAMES, help="hidden activation")
    t.add_argument("--output", choices=activations.NAMES, help="output activation")
    t.add_argument("--loss", choices=losses.NAMES,
                   help="the cost (default: cross-entropy for classes, mse for a target); "
                        "huber and mae are robust to outliers")
    t.add_argument("--label-smoothing", type=fraction, metavar="E",
                   help="smooth a cross-entropy's targets: Y (1 - E) + E / k")
    t.add_argument("--init", choices=init.NAMES, help="weight initialiser")
    t.add_argument("--bias-init", choices=init.BIAS_INITS, default="zeros")
    t.add_argument("--optimizer", choices=optim.NAMES)
    t.add_argument("--lr", type=positive_float, help="learning rate")
    t.add_argument("--momentum", type=fraction, help="momentum (momentum/nesterov)")
    t.add_argument("--weight-decay", type=nonneg_float, metavar="LAMBDA",
                   help="AdamW's decoupled weight decay (with --optimizer adamw; default 0.01)")
    t.add_argument("--clip-norm", type=positive_float, metavar="C",
                   help="clip the gradients to a joint norm of at most C (global_clipnorm)")
    t.add_argument("--schedule", choices=schedules.NAMES,
                   help="learning-rate schedule (one_cycle changes it every step)")
    t.add_argument("--warmup", type=nonneg_float, metavar="EPOCHS",
                   help="a linear rise of the rate over the first EPOCHS (fractions allowed)")
    t.add_argument("--reduce-on-plateau", type=positive_int, metavar="PATIENCE",
                   help="divide the rate by 10 when the validation loss has not improved for "
                        "more than PATIENCE epochs (needs --validation-split)")
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--epochs", type=positive_int)
    t.add_argument("--l2", type=nonneg_float, help="L2 strength lambda (cost + lambda/2n sum w^2)")
    t.add_argument("--dropout", type=fraction, help="dropout rate after each hidden layer")
    t.add_argument("--seed", type=int, help="random seed (default 0)")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--precision", choices=PRECISIONS, type=precision_name,
                   help="32 (default), bf16-mixed or 16-mixed: float32 weights, GEMMs in "
                        "bfloat16/float16 (the torch backend; cupy float16)")
    t.add_argument("--scaling", choices=("pixels", "standardize", "minmax", "none"),
                   help="input preprocessing, fitted on the training split")
    t.add_argument("--validation-split", type=fraction, default=0.0)
    t.add_argument("--test-split", type=fraction, default=None,
                   help="hold out this fraction as a test set when the data has none "
                        "(default 0.2 for CSV files)")
    t.add_argument("--save-best", metavar="PATH",
                   help="keep the model of the epoch with the best validation loss here "
                        "(.npz or .safetensors), written whenever it improves; needs "
                        "--validation-split")
    t.add_argument("--early-stopping", type=positive_int, metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs; "
                        "the model ends with its best epoch's weights however the run ends")
    t.add_argument("--cv", type=positive_int, metavar="K", help="k-fold cross-validation")
    t.add_argument("--save", metavar="PATH",
                   help="save the trained model (.npz, or .safetensors)")
    t.add_argument("--checkpoint", metavar="PATH",
                   help="write checkpoints here (every epoch unless --checkpoint-every); "
                        "with --save and --checkpoint-every the default is SAVE.ckpt.npz")
    t.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                   help="write a checkpoint every N epochs")
    t.add_argument("--resume", metavar="PATH", help="continue training from a checkpoint")
    t.add_argument("--metrics-out", metavar="PATH", help="write metrics and history as JSON")
    t.add_argument("--metrics", nargs="+", metavar="NAME",
                   help="figures each epoch, on the training batches and the held-out rows: "
                        "f1, auc, top_k (top_3, ...) for classes; r2, mae for a target")
    t.add_argument("--tensorboard", metavar="DIR",
                   help="TensorBoard event files here: every epoch's figures (needs: pip "
                        "install 'xpnet[tensorboard]')")
    t.add_argument("--log-csv", metavar="PATH",
                   help="a CSV row per epoch, written as each epoch ends (a resumed run "
                        "appends)")
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
    run_in_precision(e)
    e.add_argument("--dataset",
                   help="the data to score (default: the dataset the model records, whose "
                        "held-out test rows are scored; mnist for models that record none)")
    e.add_argument("--label-column", metavar="COLUMN",
                   help="CSV label column (default: the model's, else -1)")
    e.add_argument("--no-download", action="store_true")

    pr = sub.add_parser("predict", help="predict classes for new inputs")
    common(pr)
    pr.add_argument("model")
    run_in_precision(pr)
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
    b.add_argument("--batch-sizes", type=positive_int, nargs="+", metavar="M",
                   help="batch sizes (default: 32 128 512 2048)")
    b.add_argument("--sizes", type=positive_int, nargs="+", metavar="N",
                   help="layer sizes of the ReLU network timed, input to output "
                        "(default: 784 512 512 10)")
    b.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    b.add_argument("--precision", choices=PRECISIONS, default="32", type=precision_name,
                   help="precision policy of the step timed: 32, bf16-mixed or 16-mixed (its "
                        "GEMMs timed in bfloat16/float16 alike)")
    b.add_argument("--repeats", type=positive_int, default=7,
                   help="interleaved repeats per measurement; medians are shown (default: 7)")
    b.add_argument("--compile", action="store_true",
                   help="time the step compiled whole (the torch backend: torch.compile)")
    b.add_argument("--json", metavar="PATH", help="write the raw figures as JSON")
    b.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks for errors")
    return p
