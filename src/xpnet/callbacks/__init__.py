"""What a fit reports and how it reacts, step by step and epoch by epoch.

* [`base`][xpnet.callbacks.base]: the [`Callback`][xpnet.callbacks.base.Callback] protocol, the
  [`CallbackList`][xpnet.callbacks.base.CallbackList] the fit loop calls, and the
  [`History`][xpnet.callbacks.base.History] of every epoch's figures;
* [`best`][xpnet.callbacks.best]: [`EarlyStopping`][xpnet.callbacks.best.EarlyStopping],
  [`ModelCheckpoint`][xpnet.callbacks.best.ModelCheckpoint] and
  [`ReduceLROnPlateau`][xpnet.callbacks.best.ReduceLROnPlateau], each watching a figure through a
  [`Monitor`][xpnet.callbacks.best.Monitor];
* [`logs`][xpnet.callbacks.logs]: [`CSVLogger`][xpnet.callbacks.logs.CSVLogger] and
  [`TensorBoard`][xpnet.callbacks.logs.TensorBoard];
* [`fit`][xpnet.callbacks.fit]: [`DivergenceGuard`][xpnet.callbacks.fit.DivergenceGuard] and
  [`Progress`][xpnet.callbacks.fit.Progress], which every fit runs (the fit loop adds its
  validation and checkpoint callbacks, [`xpnet.train`][xpnet.train]).
"""

from .base import STANDARD_LOGS, Callback, CallbackList, History
from .best import EarlyStopping, ModelCheckpoint, Monitor, ReduceLROnPlateau
from .fit import DivergenceGuard, Progress
from .logs import CSVLogger, TensorBoard

__all__ = [
    "STANDARD_LOGS", "CSVLogger", "Callback", "CallbackList", "DivergenceGuard", "EarlyStopping",
    "History", "ModelCheckpoint", "Monitor", "Progress", "ReduceLROnPlateau", "TensorBoard",
]
