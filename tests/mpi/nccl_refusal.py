"""Run as ``mpiexec -n 2 python nccl_refusal.py``: the real command line training with
``--distributed nccl``, where cupyx is the stand-in beside this file (NCCL refuses to start)
and the GPU count and CuPy backend are NumPy's (no GPU needed)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "fake_cupyx"))

import xpnet  # noqa: E402
from xpnet import cli, comm  # noqa: E402

comm.gpu_count = lambda: 1
comm.resolve = lambda name, device: xpnet.resolve("numpy")
sys.exit(cli.main(["train", "--dataset", "spirals", "--epochs", "1", "--backend", "numpy",
                   "--distributed", "nccl", "--quiet"]))
