"""cupyx.distributed as xpnet meets it, with NCCL refusing as it does for two ranks on one GPU.

Like cupyx, rank 0 starts a rendezvous server first: a non-daemon process that loops until its
communicator's ``stop()`` is called, so a program that never stops it cannot exit (Python joins
non-daemon processes at exit). ``FAKE_NCCL=ok`` makes NCCL start instead.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path


def _serve(stop, marker):
    while not stop.is_set():
        time.sleep(0.05)
    if marker:
        Path(marker).write_text("stopped")


class NCCLBackend:
    def __init__(self, n_devices, rank, host="127.0.0.1", port=13333, use_mpi=False):
        self.rank = rank
        if rank == 0:
            self._stop = multiprocessing.Event()
            self._server = multiprocessing.Process(
                target=_serve, args=(self._stop, os.environ.get("FAKE_NCCL_MARKER")))
            self._server.start()
        if os.environ.get("FAKE_NCCL") != "ok":
            raise RuntimeError("NCCL_ERROR_INVALID_USAGE: invalid usage (run with "
                               "NCCL_DEBUG=WARN for details)\nDuplicate GPU detected")

    def stop(self):
        if self.rank == 0:
            self._stop.set()
            self._server.join()
