"""What ``xpnet train`` settles from the flags, the dataset's recipe and a checkpoint: the
architecture, the cost, the optimizer, the schedule and the fit's settings."""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass
from typing import Any

from .. import datasets, losses, optim, recipes, schedules
from .common import UsageError


@dataclass
class Plan:
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
    def make(cls, opts: argparse.Namespace, ds: datasets.Dataset, ck: Any) -> Plan:
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
        if opts.weight_decay is not None:
            if name != "adamw":
                raise UsageError("--weight-decay is AdamW's decoupled decay: use it with "
                                 "--optimizer adamw (or --l2 for a penalty in the cost)")
            kwargs["weight_decay"] = opts.weight_decay
        if opts.clip_norm is not None:
            kwargs["global_clipnorm"] = opts.clip_norm
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
        warmup = {"warmup": self.opts.warmup} if self.opts.warmup else {}
        return schedules.get(self.pick("schedule"), epochs=self.epochs, **warmup)

    def network(self) -> Any:
        from ..network import Network

        o = self.opts
        hidden = [size for size in self.pick("hidden") if size]   # --hidden none: no layer
        return Network([self.n_features, *hidden, self.n_out],
                       hidden=self.pick("activation"), output=self.output, loss=self.cost(),
                       init=o.init, bias_init=o.bias_init, dropout=self.dropout, l2=self.l2,
                       backend=o.backend, device=o.device, dtype=o.dtype, seed=o.seed,
                       precision=o.precision or "32")

    def cost(self) -> Any:
        """The cost, with ``--label-smoothing`` where given."""
        e = self.opts.label_smoothing
        return self.loss if not e else losses.get(self.loss, label_smoothing=e)

    def fit_kwargs(self) -> dict[str, Any]:
        o = self.opts
        kwargs = dict(epochs=self.epochs, batch_size=self.batch_size, schedule=self.schedule,
                      progress=not o.quiet, validation_split=o.validation_split,
                      compile=o.compile, metrics=o.metrics)
        if o.comm.size > 1:
            kwargs["comm"] = o.comm
        return kwargs
