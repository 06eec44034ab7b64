"""Stopping a fit cleanly: SIGINT and SIGTERM end it at a step boundary with the history so far,
and in a data-parallel run a rank that fails alone stops every rank rather than leave them
waiting."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .callbacks import History, Progress
from .errors import TrainingDiverged


class Signals:
    """SIGINT and SIGTERM, while a fit runs in the main thread, ask it to stop at the next
    step boundary (``caught`` names the signal); a second one stops at once. Signals the
    process ignores (SIGINT in a background job) stay ignored."""

    def __init__(self) -> None:
        self.caught: str | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(sig)
            if current in (signal.default_int_handler, signal.SIG_DFL):
                self.previous[sig] = current
                signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.caught is not None:   # the second signal: stop now
            raise KeyboardInterrupt
        self.caught = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def stopping_cleanly(comm: Any, history: History, shown: Progress,
                      checkpoint: str | Path | None, backend: Any, flops: float
                      ) -> Iterator[Signals]:
    """A signal ends the run at a step boundary with the history so far; in a data-parallel
    run, a rank that fails alone stops every rank rather than leave them waiting. Inside,
    floating-point warnings stay quiet (a diverging run ends with the guard's one line) and
    the BLAS runs the threads chosen for a step of ``flops``."""
    signals = Signals()
    try:
        with signals, backend.quiet_float_errors(), backend.threads_for(flops):
            yield signals
    except TrainingDiverged:
        raise   # every rank sees the same global cost, so every rank stops here together
    except Exception as exc:
        if comm.size > 1:
            print(f"rank {comm.rank}: {type(exc).__name__}: {exc}; aborting all ranks",
                  file=sys.stderr, flush=True)
            comm.abort(1)
        raise
    except KeyboardInterrupt:
        if comm.size > 1:
            comm.abort(130)
        history.interrupted, history.signal = True, signals.caught or "SIGINT"
        shown.close()
        shown.message(f"interrupted ({history.signal}); returning the history of "
                      f"{len(history.epoch)} completed epochs" +
                      (f" (last checkpoint: {checkpoint})" if checkpoint is not None else ""))
