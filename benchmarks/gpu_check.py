"""Everything a GPU machine must run, in one command of at most 10 minutes, most valuable first.

    python benchmarks/gpu_check.py --out /tmp/gpu-check --pack-dir $OUT   # on the GPU machine
    python benchmarks/gpu_check.py --dry-run --out /tmp/dry               # the plumbing, on NumPy

A GPU machine is lent rarely and briefly: 15 minutes of device time in all, its start included,
one command of at most 10 minutes, no network, at most 8 files back. So the steps run in order
of value, each in a process of its own with a time limit; a step that outlives it is stopped
gracefully (SIGINT to its process group, so that pytest still writes its report, then SIGKILL
after a grace period) and recorded as ``timed out`` with what it wrote; the next step runs.
After every step the results are written (``OUT/<step>.json``, ``OUT/summary.json``,
``OUT/summary.md``) and, with ``--pack-dir``, packed there (``summary.md`` and
``gpu-check.tgz``), so that even a run killed from outside returns what it had done.

Each step has ``estimate_s``, the time it is expected to take on an H100/H200 (the reasoning is
beside it in ``STEPS``); they add up to at most the 540 s default ``--budget``, and steps still
waiting when the budget runs out are recorded as skipped. The CPU-only tests are not run here:
CI runs them on every submission. ``--dry-run`` runs every step on NumPy with small sizes (the
GPU-only parts are recorded as skipped), so CI keeps the script working;
``XPNET_GPU_CHECK_HANG=STEP`` makes one step hang, to prove the graceful stop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
PY = sys.executable
# after SIGINT, how long a step may take to write its reports (shorter in the tests)
GRACE_S = float(os.environ.get("XPNET_GPU_CHECK_GRACE", "15"))
# the command XPNET_GPU_CHECK_HANG puts in a step's place, to prove the graceful stop
HANG = [PY, "-c", "print('started', flush=True); import time; time.sleep(3600)"]


GPU_TEST_CASES = 496
"""How many cases ``pytest tests -k "cupy or cuda"`` collects (the gpu_tests step's estimate
rests on it; ``tests/test_gpu_check.py`` counts them again)."""


@dataclass(frozen=True)
class Step:
    name: str
    limit_s: float      # stopped (SIGINT, then SIGKILL) after this long
    estimate_s: float   # expected on an H100/H200; the sum stays within the budget
    why: str            # the reasoning behind the estimate


STEPS = [
    Step("environment", 60, 10, "imports and device queries; nvidia-smi answers in a second"),
    Step("info", 60, 10, "xpnet info: one process start and the backends' imports (~5 s)"),
    Step("mnist_recipe", 150, 60,
         "the default recipe, 20 epochs of 469 steps: a launch-bound step of ~40 kernels at "
         "~5-10 us each is 2-4 ms, so 20-40 s of training, plus MNIST's load (~5 s) and CuPy "
         "compiling each element-wise kernel on first use (~10 s)"),
    Step("gpu_tests", 240, 190,
         f"the {GPU_TEST_CASES} cupy and torch:cuda cases (-k 'cupy or cuda'; a test checks the "
         "count): small arrays, but CuPy compiles every new kernel (0.1-0.5 s each, ~100 "
         "distinct) and the scikit-learn estimator checks on cupy dominate (the ~60 optimizer, "
         "clipping and cost cases are single updates, ~0.1 s each); each test is stopped "
         "after 60 s"),
    Step("bench_tf32_off", 60, 30,
         "xpnet bench on cupy: 5 batch sizes x 7 interleaved repeats x ~0.1 s x 2 (step and "
         "GEMMs), plus warm-up"),
    Step("bench_tf32_on", 60, 15,
         "the same with CUPY_TF32=1 (a fresh process: CuPy reads it once) at the two batch "
         "sizes whose GEMMs dominate (2048, 8192)"),
    Step("bench_torch_cuda", 60, 20,
         "the same on xpnet's torch backend on cuda:0 at batch 128, 2048 and 8192"),
    Step("epoch_vs_torch", 90, 40,
         "one MNIST epoch (~1-2 s on the GPU) x 2 epochs x 3 repeats x 2 libraries, fresh "
         "processes that each import CuPy or PyTorch (~3-5 s)"),
    Step("mixed_precision", 120, 45,
         "the MNIST recipe cut to 5 epochs (its accuracy a figure of its own) under bf16-mixed "
         "on torch cuda:0 (~1 s an epoch plus ~8 s of imports and start) and under 16-mixed on "
         "CuPy (~2 s an epoch plus ~10 s of float16 kernels compiled on first use), then xpnet "
         "bench at batch 2048 and 8192 with 3 repeats for each (~7 s each)"),
    Step("distributed", 120, 40,
         "two ranks sharing the one GPU, 5 epochs of spirals each: over MPI with CuPy arrays "
         "staged through the host (~15 s: two processes importing CuPy, kernels compiled on "
         "first use), and over NCCL, which may refuse two ranks on one device and then ends "
         "both ranks in seconds (that is recorded)"),
    Step("profile", 60, 20,
         "torch.profiler over 20 steps of the torch backend: kernel time against wall time, "
         "kernels per step"),
    Step("suite", 120, 60,
         "the pytest-benchmark suite trimmed to the training step and the bare GEMMs at "
         "batch 128, 2048 and 8192 on cupy and torch:cuda, 0.1 s each, then its tables"),
]
BUDGET_S = 540
assert sum(s.estimate_s for s in STEPS) <= BUDGET_S
BY_NAME = {s.name: s for s in STEPS}


class Skip(Exception):
    """A step that does not apply here; the message says why."""


class Failed(Exception):
    """A step that ran and failed; ``figures`` keeps what it measured (every count)."""

    def __init__(self, message: str, figures: dict[str, Any]):
        super().__init__(message)
        self.figures = figures


class Stopped(Exception):
    """A step's command was stopped at its time limit; ``figures`` holds what it had done."""

    def __init__(self, message: str, figures: dict[str, Any] | None = None):
        super().__init__(message)
        self.figures = figures or {}


# --------------------------------------------------------------------- one step, in its process
class Check:
    """The steps themselves; each runs in a process of its own (``--run-step``)."""

    def __init__(self, args: argparse.Namespace):
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.dry = args.dry_run
        self.backend = "numpy" if self.dry else "cupy"
        self.env = child_env()
        self.stop_asked = False
        self.in_command = False

    def on_sigint(self, signum: int, frame: Any) -> None:
        """The supervisor's stop: a running command gets the same signal (one process
        group) and is given time to write its reports; Python code here stops at once."""
        self.stop_asked = True
        if not self.in_command:
            raise KeyboardInterrupt

    def command(self, step: str, cmd: list[str], env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess:
        """Run ``cmd`` from the repository root with its output in ``OUT/<step>.log``; raise
        on a non-zero exit, or :class:`Stopped` when the supervisor stopped it."""
        log = self.out / f"{step}.log"
        if step not in BY_NAME and os.environ.get("XPNET_GPU_CHECK_HANG") == step:
            cmd = HANG   # one command of a step hangs: the step's other figures must survive
        with open(log, "w") as fh:
            fh.write("$ " + " ".join(cmd) + "\n")
            fh.flush()
            self.in_command = True
            try:
                proc = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **(env or {})},
                                        stdout=fh, stderr=subprocess.STDOUT, text=True)
                code = _wait(proc, lambda: self.stop_asked)
            finally:
                self.in_command = False
        text = log.read_text().split("\n", 1)[1]   # without the "$ command" line
        if self.stop_asked:
            raise Stopped(f"stopped at its time limit (log: {log.name})")
        if code != 0:
            tail = text.strip().splitlines()[-3:]
            raise RuntimeError(f"exit status {code} (log: {log.name}): " + " | ".join(tail))
        return subprocess.CompletedProcess(cmd, code, text, "")

    def run(self, name: str) -> dict[str, Any]:
        """Run one step and write ``OUT/<name>.json``: ok, skipped, failed or timed out."""
        signal.signal(signal.SIGINT, self.on_sigint)
        t0 = time.perf_counter()
        record: dict[str, Any] = {"step": name}
        try:
            hang = os.environ.get("XPNET_GPU_CHECK_HANG", "")   # the graceful-stop proofs
            if hang == name:        # a command that hangs: stopped by SIGINT, log kept
                self.command(name, HANG)
            elif hang == f"{name}:hard":   # Python that ignores SIGINT: killed after the grace
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                print("started, ignoring SIGINT", flush=True)
                time.sleep(3600)
            figures = getattr(self, name)(name)
            record.update(status="ok", **(figures or {}))
        except Skip as exc:
            record.update(status="skipped", reason=str(exc))
        except Stopped as exc:
            record.update(status="timed out", reason=str(exc), **exc.figures)
        except Failed as exc:   # the counts survive the failure
            record.update(status="failed", error=str(exc), **exc.figures)
        except KeyboardInterrupt:
            record.update(status="timed out", reason="stopped at its time limit")
        except Exception as exc:  # every failure is recorded; the next step still runs
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc(limit=4))
        record["seconds"] = round(time.perf_counter() - t0, 2)
        write_json(self.out / f"{name}.json", record)
        return record

    # ------------------------------------------------------------------ the steps
    def environment(self, name: str) -> dict[str, Any]:
        import numpy as np

        import xpnet

        env: dict[str, Any] = {
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "numpy": np.__version__, "xpnet": xpnet.__version__,
            "dry_run": self.dry, "backend": self.backend,
            "backends": xpnet.backend.available(),
        }
        try:
            import cupy

            rt = cupy.cuda.runtime
            props = rt.getDeviceProperties(0)
            env["cupy"] = cupy.__version__
            env["cuda_runtime"] = rt.runtimeGetVersion()
            env["cuda_driver"] = rt.driverGetVersion()
            env["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) \
                else props["name"]
            env["gpu_memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
            env["nccl"] = bool(cupy.cuda.nccl.available)
        except Exception as exc:  # no CuPy, or no driver
            env["cupy"] = f"unavailable ({type(exc).__name__}: {exc})"
        env["matmul_ms"] = small_matmuls()
        try:
            import torch

            env["torch"] = torch.__version__
            env["torch_cuda"] = torch.version.cuda if torch.cuda.is_available() else None
        except ImportError:
            env["torch"] = "not installed"
        env["mpi"] = mpi_status(self.env)
        smi = shutil.which("nvidia-smi")
        if smi:
            env["nvidia_smi"] = subprocess.run([smi], capture_output=True, text=True,
                                               timeout=30).stdout
        return env

    def info(self, name: str) -> dict[str, Any]:
        return {"text": self.command(name, [PY, "-m", "xpnet", "info"]).stdout}

    def mnist_recipe(self, name: str) -> dict[str, Any]:
        path = self.out / "mnist-recipe-metrics.json"
        args = ["--epochs", "1", "--hidden", "32"] if self.dry else []
        self.command(name, [PY, "-m", "xpnet", "train", "--backend", self.backend,
                            "--no-download", "--metrics-out", str(path), *args])
        m = json.loads(path.read_text())
        return {k: m.get(k) for k in ("test_accuracy", "train_seconds", "epochs", "backend")
                if k in m}

    def gpu_tests(self, name: str) -> dict[str, Any]:
        """The test cases that only a GPU runs (cupy, torch:cuda); CI runs the rest."""
        xml = self.out / "gpu-tests.xml"
        select = "device1 and (fit or resume)" if self.dry else "cupy or cuda"
        tests = os.environ.get("XPNET_GPU_CHECK_TESTS", "tests")   # another folder: the tests
        per_test = ["--timeout", "60"] if _importable("pytest_timeout") else []
        try:
            self.command(name, [PY, "-m", "pytest", tests, "-q", "-p", "no:cacheprovider",
                                f"--ignore={tests}/test_gpu_check.py",   # the dry run: CI's
                                # a module that cannot be imported here (an optional test
                                # library missing) is one error, not the end of the run
                                "--continue-on-collection-errors",
                                "-k", select, f"--junitxml={xml}", *per_test])
        except Stopped as exc:
            exc.figures = junit_counts(xml) if xml.exists() else {}
            raise
        except RuntimeError:
            pass   # the counts below say what failed
        counts = junit_counts(xml)
        if counts["failed"] or counts["errors"]:
            raise Failed(f"{counts['failed']} failed, {counts['errors']} errors; every failing "
                         f"id is in {name}.json", counts)
        return counts

    def _bench(self, name: str, backend: str, extra: list[str],
               env: dict[str, str] | None = None,
               batches: tuple[str, ...] = ("32", "128", "512", "2048", "8192")
               ) -> dict[str, Any]:
        path = self.out / f"{name}-rows.json"
        if self.dry:
            sizes = ["--sizes", "64", "32", "10", "--batch-sizes", "16", "64", "--repeats", "2"]
        else:
            sizes = ["--batch-sizes", *batches]
        self.command(name, [PY, "-m", "xpnet", "bench", "--backend", backend, *extra, *sizes,
                            "--json", str(path)], env)
        return json.loads(path.read_text())

    def bench_tf32_off(self, name: str) -> dict[str, Any]:
        return self._bench(name, self.backend, [], {"CUPY_TF32": "0"})

    def bench_tf32_on(self, name: str) -> dict[str, Any]:
        return self._bench(name, self.backend, [], {"CUPY_TF32": "1"}, ("2048", "8192"))

    def bench_torch_cuda(self, name: str) -> dict[str, Any]:
        if self.dry:
            raise Skip("dry run: no CUDA device")
        return self._bench(name, "torch", ["--device", "cuda:0"], None, ("128", "2048", "8192"))

    def epoch_vs_torch(self, name: str) -> dict[str, Any]:
        if not _importable("torch"):
            raise Skip("PyTorch is not installed")
        path = self.out / "vs-torch.json"
        if self.dry:
            args = ["--limit", "1024", "--repeats", "1", "--epochs", "1", "--sizes", "784",
                    "64", "10"]
        else:
            args = ["--gpu", "--repeats", "3", "--epochs", "2"]
        self.command(name, [PY, str(HERE / "compare_torch.py"), *args, "--json", str(path)])
        return json.loads(path.read_text())

    def mixed_precision(self, name: str) -> dict[str, Any]:
        """The precision policies where the GPU has their units: the recipe (5 epochs) and the
        bench rows under bf16-mixed on torch CUDA and 16-mixed on CuPy (dry: bf16-mixed on the
        torch CPU backend, small; CuPy skipped)."""
        runs = [("torch_bf16", "torch", "bf16-mixed", [] if self.dry else ["--device", "cuda:0"]),
                ("cupy_fp16", "cupy", "16-mixed", [])]
        out: dict[str, Any] = {}
        for key, backend, policy, device in runs:
            why = "dry run: no CUDA device" if self.dry and backend == "cupy" else \
                None if _importable(backend) else f"{backend} is not installed"
            if why:
                out[key] = {"status": "skipped", "reason": why}
                continue
            small = self.dry
            fit = ["--epochs", "1", "--hidden", "32"] if small else ["--epochs", "5"]
            rows = ["--sizes", "64", "32", "10", "--batch-sizes", "16", "--repeats", "2"] \
                if small else ["--batch-sizes", "2048", "8192", "--repeats", "3"]
            metrics, bench = (self.out / f"{name}-{key}-{what}.json" for what in
                              ("metrics", "bench"))
            try:
                self.command(f"{name}-{key}", [
                    PY, "-m", "xpnet", "train", "--backend", backend, *device, "--precision",
                    policy, "--no-download", "--metrics-out", str(metrics), *fit])
                m = json.loads(metrics.read_text())
                out[key] = {"status": "ok", "precision": policy,
                            **{k: m[k] for k in ("test_accuracy", "train_seconds", "epochs")
                               if k in m}}
                self.command(f"{name}-{key}-bench", [
                    PY, "-m", "xpnet", "bench", "--backend", backend, *device, "--precision",
                    policy, *rows, "--json", str(bench)])
                out[key]["bench"] = json.loads(bench.read_text())["results"]
            except Stopped as exc:
                exc.figures = out
                raise
            except RuntimeError as exc:
                out[key] = {**out.get(key, {}), "status": "failed", "error": str(exc)}
        if all(r["status"] == "skipped" for r in out.values()):
            raise Skip("; ".join(f"{k}: {r['reason']}" for k, r in out.items()))
        if any(r["status"] == "failed" for r in out.values()):
            raise Failed("; ".join(f"{k}: {r['error']}" for k, r in out.items()
                                   if r["status"] == "failed"), out)
        return out

    def distributed(self, name: str) -> dict[str, Any]:
        """Two ranks on the one GPU: MPI with device arrays staged through the host, and
        NCCL, which may refuse two ranks on one device; each outcome is a figure."""
        mpi = mpi_status(self.env)
        if not mpi.startswith("ok"):
            raise Skip(f"MPI cannot run here: {mpi}")
        mpiexec = shutil.which("mpiexec", path=self.env.get("PATH"))
        out: dict[str, Any] = {}
        kinds = ["mpi", "nccl"]   # dry: NCCL refuses NumPy arrays at once, and that is recorded
        for kind in kinds:
            path = self.out / f"{name}-{kind}-metrics.json"
            cmd = [str(mpiexec), "-n", "2", PY, "-m", "xpnet", "train", "--dataset", "spirals",
                   "--epochs", "5", "--backend", self.backend, "--distributed", kind,
                   "--metrics-out", str(path)]
            if not self.dry:
                cmd += ["--device", "0"]
            try:
                self.command(f"{name}-{kind}", cmd, {"OPENBLAS_NUM_THREADS": "1"})
                m = json.loads(path.read_text())
                out[kind] = {"status": "ok", "ranks": 2, "test_accuracy": m.get("test_accuracy"),
                             "train_seconds": m.get("train_seconds")}
            except Stopped as exc:   # the kinds done before keep their figures
                out[kind] = {"status": "timed out", "error": str(exc)}
                raise Stopped(f"{kind}: {exc}", out) from None
            except RuntimeError as exc:
                out[kind] = {"status": "failed", "error": str(exc)[:400]}
        if out["mpi"]["status"] != "ok":
            raise RuntimeError(f"two MPI ranks on one device failed: {out['mpi']['error']}")
        return out

    def profile(self, name: str) -> dict[str, Any]:
        """Kernel time against wall time for the torch backend's training step: where the
        wall time is much larger, launches and Python, not the GPU, set the pace."""
        if not _importable("torch"):
            raise Skip("PyTorch is not installed")
        path = self.out / "profile-rows.json"
        device = "cpu" if self.dry else "cuda:0"
        self.command(name, [PY, str(HERE / "profile_torch_step.py"), "--device", device,
                            "--json", str(path)])
        return json.loads(path.read_text())

    def suite(self, name: str) -> dict[str, Any]:
        path = self.out / "suite-benchmarks.json"
        if self.dry:
            select, env = "numpy and float32 and train_step", {"XPNET_BENCH_BATCHES": "16,64"}
        else:
            select, env = "(cupy or cuda) and (train_step or bare) and float32", \
                {"XPNET_BENCH_BATCHES": "128,2048,8192"}
        self.command(name, [PY, "-m", "pytest", "benchmarks", "--benchmark-only", "-q", "-p",
                            "no:cacheprovider", "-k", select, "--benchmark-max-time=0.1",
                            "--benchmark-min-rounds=5", f"--benchmark-json={path}"], env)
        summarize = [PY, str(HERE / "summarize.py")]
        self.command(f"{name}-compact", [*summarize, "--compact", str(path)])
        table = self.command(f"{name}-summary", [*summarize, str(path)]).stdout
        (self.out / "suite.md").write_text(table)
        return {"table": "suite.md",
                "benchmarks": len(json.loads(path.read_text())["benchmarks"])}


# --------------------------------------------------------------------- helpers
def child_env() -> dict[str, str]:
    """The environment of every step: xpnet from this checkout, the shared data where it is
    beside the checkout, unbuffered output, and on the PATH first the carried MPICH
    (``XPNET_MPI_PREFIX``, with ``MPI4PY_LIBMPI`` pointed at its library), then the
    interpreter's own bin/ (where an MPICH wheel installed into the environment puts
    mpiexec)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"),
                                                    os.environ.get("PYTHONPATH")) if p)
    shared = ROOT.parent / "shared" / "data"
    if "XPNET_DATA_DIR" not in env and shared.is_dir():
        env["XPNET_DATA_DIR"] = str(shared)
    first = [str(Path(PY).parent)]
    carried = carried_mpich(Path(env["XPNET_MPI_PREFIX"])) if env.get("XPNET_MPI_PREFIX") \
        else None
    if carried is not None:
        first.insert(0, str(carried[0]))
        env["MPI4PY_LIBMPI"] = str(carried[1])
    env["PATH"] = os.pathsep.join([*first, env.get("PATH", "")])
    return env


def carried_mpich(prefix: Path) -> tuple[Path, Path] | None:
    """The folder of ``mpiexec`` and the path of ``libmpi.so.12`` that ``pip install --prefix
    PREFIX mpich`` wrote, wherever the interpreter's install scheme put them: ``PREFIX/bin``
    and ``PREFIX/lib``, or ``PREFIX/local/bin`` and ``PREFIX/local/lib`` under a Debian or
    Ubuntu system Python (its ``posix_local`` scheme); None when either is missing."""
    if not prefix.is_dir():
        return None
    exe = sorted(p for p in prefix.rglob("mpiexec") if p.parent.name == "bin")
    lib = sorted(prefix.rglob("libmpi.so.12"))
    return (exe[0].parent, lib[0]) if exe and lib else None


def small_matmuls(n: int = 256) -> dict[str, Any]:
    """One warm (n x n) @ (n x n) float32 product on each library that is here, in ms, or the
    error it raised: a broken CUDA library (cuBLAS missing, a driver mismatch) shows in the
    first seconds instead of in every later step."""
    import numpy as np

    def timed(product: Any, sync: Any = lambda: None) -> float:
        product()
        sync()
        t0 = time.perf_counter()
        product()
        sync()
        return round((time.perf_counter() - t0) * 1e3, 3)

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    out: dict[str, Any] = {"numpy": timed(lambda: a @ a)}
    try:
        import cupy

        g = cupy.asarray(a)
        out["cupy"] = timed(lambda: g @ g, cupy.cuda.Device().synchronize)
    except Exception as exc:  # no CuPy, no driver, or a broken CUDA library
        out["cupy"] = f"{type(exc).__name__}: {exc}"[:200]
    try:
        import torch

        if torch.cuda.is_available():
            t = torch.from_numpy(a).to("cuda:0")
            out["torch_cuda"] = timed(lambda: t @ t, torch.cuda.synchronize)
    except Exception as exc:  # no PyTorch, or a broken CUDA library
        out["torch_cuda"] = f"{type(exc).__name__}: {exc}"[:200]
    return out


def _wait(proc: subprocess.Popen, stop_asked: Any) -> int:
    """Wait for ``proc``; once a stop is asked for, give it GRACE_S to finish its reports
    (it got the same SIGINT), then kill it."""
    stopping_since = None
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if stop_asked():
            stopping_since = stopping_since or time.monotonic()
            if time.monotonic() - stopping_since > GRACE_S:
                proc.kill()
                return proc.wait()


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def mpi_status(env: dict[str, str]) -> str:
    """``ok (...)`` when mpi4py loads an MPI library and mpiexec is on the PATH, else why not:
    importing mpi4py is not enough (mpi4py 4 loads the library on first use)."""
    if not shutil.which("mpiexec", path=env.get("PATH")):
        return "no mpiexec on the PATH"
    probe = "from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0])"
    try:
        r = subprocess.run([PY, "-c", probe], capture_output=True, text=True, timeout=30,
                           env=env)
    except subprocess.TimeoutExpired:
        return "mpi4py hung while loading its MPI library"
    if r.returncode != 0:
        return "mpi4py cannot load an MPI library: " + (r.stderr.strip().splitlines() or
                                                          ["?"])[-1]
    return f"ok ({r.stdout.strip()})"


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def junit_counts(path: Path) -> dict[str, Any]:
    """Passed, failed, errors and skipped from a JUnit XML report, every failed test id, and
    how many tests passed on each GPU backend (whatever else failed)."""
    counts: dict[str, Any] = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                              "failed_ids": [], "passed_on": {"cupy": 0, "torch:cuda": 0}}
    if not path.exists():
        raise RuntimeError("pytest wrote no report")
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds or "error" in kinds:
            counts["failed" if "failure" in kinds else "errors"] += 1
            counts["failed_ids"].append(test_id)
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
            for gpu in counts["passed_on"]:
                counts["passed_on"][gpu] += f"[{gpu}" in test_id or f"-{gpu}" in test_id
    return counts


def headline(r: dict[str, Any]) -> str:
    """One line for the summary table."""
    status, step = r["status"], r["step"]
    if status == "skipped":
        return r.get("reason", "")
    if status in ("failed", "timed out") and step != "gpu_tests":
        return (r.get("error") or r.get("reason") or "")[:300]
    if step == "environment":
        return (f"{r.get('gpu', 'no GPU')}, CuPy {r.get('cupy')}, CUDA runtime "
                f"{r.get('cuda_runtime', '-')}, driver {r.get('cuda_driver', '-')}, NCCL "
                f"{r.get('nccl', '-')}; MPI {r.get('mpi')}; 256^3 matmul ms "
                f"{r.get('matmul_ms')}")
    if step == "gpu_tests":
        if "passed" not in r:
            return (r.get("error") or r.get("reason") or "")[:300]
        on = ", ".join(f"{k} {v}" for k, v in r["passed_on"].items())
        return (f"{r['passed']} passed, {r['failed']} failed, {r['errors']} errors, "
                f"{r['skipped']} skipped ({on} passed)"
                + (f"; {r['reason']}" if status == "timed out" else ""))
    if step == "info":
        return r["text"].strip().splitlines()[0] if r.get("text") else ""
    if step.startswith("bench_"):
        return "; ".join(f"b{x['batch_size']}: step/GEMMs {x['step_over_gemm']:.2f}, "
                         f"{x['step_gflops']:.0f} GFLOP/s" for x in r.get("results", []))
    if step == "epoch_vs_torch":
        m = r["median"]
        return (f"xpnet {m['xpnet']:.3f} s vs torch {m['torch']:.3f} s per epoch: "
                f"{r['ratio']:.2f}x")
    if step == "distributed":
        return "; ".join(f"{k}: {v['status']}" + (f" ({v['test_accuracy']:.3f})"
                                                   if v.get("test_accuracy") is not None
                                                   else f" ({v.get('error', '')[:80]})")
                         for k, v in r.items() if isinstance(v, dict) and "status" in v)
    if step == "mixed_precision":
        return "; ".join(_mixed_line(k, v) for k, v in r.items()
                         if isinstance(v, dict) and "status" in v)
    if step == "profile":
        return "; ".join(f"b{x['batch']}: wall {x['wall_us']:.0f} us, kernels "
                         f"{x['kernel_us']:.0f} us, {x['kernels_per_step']:.0f} per step"
                         for x in r.get("rows", []))
    if step == "suite":
        return f"{r['benchmarks']} timings, {r['table']}"
    if "test_accuracy" in r:
        return f"test accuracy {r['test_accuracy']:.4f}, training {r['train_seconds']:.1f} s"
    return ""


def _mixed_line(key: str, r: dict[str, Any]) -> str:
    """One policy's figures in the summary: accuracy, training time and the bench rows."""
    if r["status"] != "ok":
        return f"{key}: {r['status']} ({(r.get('error') or r.get('reason') or '')[:80]})"
    rows = ", ".join(f"b{x['batch_size']} {x['step_gflops']:.0f} GFLOP/s "
                     f"(GEMMs {x['gemm_gflops']:.0f})" for x in r.get("bench", []))
    return (f"{key}: {r.get('test_accuracy', float('nan')):.4f} after {r.get('epochs')} epochs "
            f"in {r.get('train_seconds', float('nan')):.1f} s; {rows}")


# --------------------------------------------------------------------- the supervisor
class Supervisor:
    """Runs each step in a process group of its own, stops it at its limit, and writes and
    packs the results after every step."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.deadline = time.monotonic() + args.budget
        self.results: list[dict[str, Any]] = []
        self.started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        self.limits = dict(kv.split("=", 1) for kv in args.limit or [])

    def run_step(self, step: Step) -> dict[str, Any]:
        remaining = self.deadline - time.monotonic()
        limit = min(float(self.limits.get(step.name, step.limit_s)), remaining - 5)
        plan = {"step": step.name, "estimate_s": step.estimate_s, "limit_s": round(limit, 1),
                "why": step.why}
        print(f"[{step.name}] ... (expected ~{step.estimate_s:.0f} s, stopped after "
              f"{limit:.0f} s)", file=sys.stderr, flush=True)
        if limit < 10 and step.name not in self.limits:
            return {**plan, "status": "skipped", "seconds": 0.0,
                    "reason": f"out of time: {remaining:.0f} s of --budget left"}
        report = self.out / f"{step.name}.json"
        report.unlink(missing_ok=True)
        cmd = [PY, str(Path(__file__).resolve()), "--run-step", step.name, "--out",
               str(self.out)] + (["--dry-run"] if self.args.dry_run else [])
        t0 = time.perf_counter()
        with open(self.out / f"{step.name}.child.log", "w") as log:
            proc = subprocess.Popen(cmd, env=child_env(), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            stopped = _supervise(proc, limit)
        record = json.loads(report.read_text()) if report.exists() else {
            "step": step.name, "status": "timed out" if stopped else "failed",
            "reason": (f"stopped after {limit:.0f} s and killed {GRACE_S:.0f} s later; "
                       f"what it printed is in {step.name}.child.log") if stopped else
            f"its process ended with status {proc.returncode} and wrote no report"}
        if stopped and record.get("status") == "ok":
            record["status"] = "timed out"
        record.update(plan, seconds=round(time.perf_counter() - t0, 2))
        write_json(report, record)
        return record

    def summary(self) -> None:
        env = next((r for r in self.results if r["step"] == "environment"), {})
        device = env.get("gpu") or ("no GPU (numpy dry run)" if self.args.dry_run else
                                    "no GPU found")
        lines = [f"# GPU check: {device}", "",
                 f"{self.started}; xpnet {env.get('xpnet', '?')}, Python "
                 f"{env.get('python', '?')}, NumPy {env.get('numpy', '?')}, CuPy "
                 f"{env.get('cupy', '?')}, CUDA runtime {env.get('cuda_runtime', '-')}, driver "
                 f"{env.get('cuda_driver', '-')}, PyTorch {env.get('torch', '?')} (CUDA "
                 f"{env.get('torch_cuda', '-')}); "
                 f"{'dry run on NumPy' if self.args.dry_run else 'backend cupy'}.", "",
                 "| step | status | seconds | expected | result |",
                 "| --- | --- | ---: | ---: | --- |"]
        for r in self.results:
            text = headline(r).replace("|", "/").replace("\n", " ")
            lines.append(f"| {r['step']} | {r['status']} | {r['seconds']} | "
                         f"{r['estimate_s']:.0f} | {text} |")
        (self.out / "summary.md").write_text("\n".join(lines) + "\n")
        write_json(self.out / "summary.json", {
            "device": device, "started": self.started, "dry_run": self.args.dry_run,
            "budget_s": self.args.budget,
            "estimate_total_s": sum(s.estimate_s for s in STEPS), "steps": self.results})
        if self.args.pack_dir:
            pack(self.out, Path(self.args.pack_dir))


def _supervise(proc: subprocess.Popen, limit: float) -> bool:
    """Wait up to ``limit`` seconds; then SIGINT the step's process group, and SIGKILL it
    GRACE_S later. Returns whether the step had to be stopped."""
    try:
        proc.wait(timeout=max(limit, 1.0))
        return False
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=GRACE_S + 5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
    return True


def pack(out: Path, where: Path) -> None:
    """``summary.md`` and one archive of everything under ``out``, written atomically, so
    that a run stopped from outside still returns the steps done so far."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "summary.md", where / "summary.md.tmp")
    (where / "summary.md.tmp").replace(where / "summary.md")
    tmp = where / "gpu-check.tgz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(out.iterdir()):
            if not path.name.endswith(".tmp"):
                tar.add(path, arcname=path.name)
    tmp.replace(where / "gpu-check.tgz")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for the JSON, logs and summary")
    p.add_argument("--dry-run", action="store_true",
                   help="run every step's plumbing on NumPy with small sizes")
    p.add_argument("--budget", type=float, default=BUDGET_S,
                   help="seconds for the whole run; steps left when it runs out are skipped")
    p.add_argument("--only", nargs="+", metavar="STEP", choices=list(BY_NAME),
                   help="run only these steps (and the environment)")
    p.add_argument("--pack-dir", metavar="DIR",
                   help="after every step, write summary.md and gpu-check.tgz here ($OUT)")
    p.add_argument("--limit", nargs="+", metavar="STEP=SECONDS",
                   help="another time limit for a step (tests of the graceful stop)")
    p.add_argument("--run-step", choices=list(BY_NAME), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run_step:   # inside one step's own process
        return 0 if Check(args).run(args.run_step)["status"] != "failed" else 1
    sup = Supervisor(args)
    try:
        for step in STEPS:
            if args.only and step.name not in args.only and step.name != "environment":
                continue
            record = sup.run_step(step)
            sup.results.append(record)
            print(f"[{step.name}] {record['status']} in {record['seconds']} s "
                  f"{headline(record)}", file=sys.stderr, flush=True)
            sup.summary()
    finally:
        sup.summary()
    bad = [r["step"] for r in sup.results if r["status"] in ("failed", "timed out")]
    print(f"wrote {sup.out / 'summary.md'}; "
          + (f"failed or timed out: {', '.join(bad)}" if bad else "every step ok or skipped"),
          file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
