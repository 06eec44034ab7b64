"""Everything a first session on a GPU machine must run, in one command, well inside 10 minutes.

    python benchmarks/gpu_check.py --out gpu-check            # on a machine with CuPy and a GPU
    python benchmarks/gpu_check.py --dry-run --out /tmp/dry   # the same plumbing on NumPy

Steps, in order, each with its own time limit; a failing step is recorded and the next one runs:

==================  =============================================================================
environment         device, driver, CUDA runtime, CuPy/PyTorch/NumPy versions, ``nvidia-smi``
tests               the test suite (its backend matrix includes cupy and torch:cuda on a GPU)
info                ``xpnet info``
bench_tf32_off/on   ``xpnet bench --backend cupy`` in float32 with ``CUPY_TF32`` 0 and 1
bench_torch_cuda    ``xpnet bench --backend torch --device cuda:0`` (xpnet's torch backend)
suite               the pytest-benchmark suite on cupy and torch:cuda, summarised, with the plot
epoch_vs_torch      one MNIST epoch, xpnet on CuPy against PyTorch eager on the same GPU
event_crosscheck    wall-clock (synchronised) against CUDA-event times of one GEMM and one step,
                    and the suite's own medians for the same GEMM
mnist_recipe        the default MNIST recipe on cupy: test accuracy and training seconds
nccl_world1         data-parallel training over NCCL with one rank
mpi_device_arrays   data-parallel training over MPI with CuPy arrays (staged through the host)
==================  =============================================================================

Each step writes ``OUT/<step>.json`` (status, seconds, figures) and, where it runs a command,
``OUT/<step>.log``; ``OUT/summary.md`` and ``OUT/summary.json`` gather them and name the
device. The exit status is 1 when any step failed. ``--dry-run`` runs every step on NumPy
with small sizes (the GPU-only steps are recorded as skipped), so CI keeps this script working.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
PY = sys.executable


class Skip(Exception):
    """A step that does not apply here; the message says why."""


class Check:
    def __init__(self, args: argparse.Namespace):
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.dry = args.dry_run
        self.backend = "numpy" if self.dry else "cupy"
        self.deadline = time.monotonic() + args.budget
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        src = str(ROOT / "src")
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (src, os.environ.get("PYTHONPATH")) if p)
        shared = ROOT.parent / "shared" / "data"
        if "XPNET_DATA_DIR" not in self.env and shared.is_dir():
            self.env["XPNET_DATA_DIR"] = str(shared)
        self.results: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ plumbing
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def command(self, step: str, cmd: list[str], limit: float,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``cmd`` from the repository root with its output in ``OUT/<step>.log``; raise
        on a non-zero exit or when it outlives ``limit`` seconds (or the overall budget)."""
        limit = min(limit, self.remaining())
        log = self.out / f"{step}.log"
        with open(log, "w") as fh:
            fh.write("$ " + " ".join(cmd) + "\n")
            fh.flush()
            try:
                run = subprocess.run(cmd, cwd=ROOT, env={**self.env, **(env or {})},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, timeout=limit)
            except subprocess.TimeoutExpired as exc:
                fh.write(exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes)
                         else exc.stdout or "")
                raise RuntimeError(f"timed out after {limit:.0f} s (log: {log.name})") from None
            fh.write(run.stdout)
        if run.returncode != 0:
            tail = run.stdout.strip().splitlines()[-3:]
            raise RuntimeError(f"exit status {run.returncode} (log: {log.name}): "
                               + " | ".join(tail))
        return run

    def step(self, name: str, fn: Any, limit: float) -> None:
        """Run one step; record ok / failed / skipped with its figures, whatever happens."""
        t0 = time.perf_counter()
        record: dict[str, Any] = {"step": name}
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        if self.remaining() < 10:
            record.update(status="skipped", reason="out of time (--budget)")
        else:
            try:
                figures = fn(name, limit)
                record.update(status="ok", **(figures or {}))
            except Skip as exc:
                record.update(status="skipped", reason=str(exc))
            except Exception as exc:  # every failure is recorded; the next step still runs
                record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                              traceback=traceback.format_exc(limit=4))
        record["seconds"] = round(time.perf_counter() - t0, 2)
        (self.out / f"{name}.json").write_text(json.dumps(record, indent=2, default=str))
        self.results.append(record)
        print(f"[{name}] {record['status']} in {record['seconds']} s "
              f"{headline(record)}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ the steps
    def environment(self, name: str, limit: float) -> dict[str, Any]:
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
        except Exception as exc:  # no CuPy, or no driver
            env["cupy"] = f"unavailable ({type(exc).__name__}: {exc})"
        try:
            import torch

            env["torch"] = torch.__version__
            env["torch_cuda"] = torch.version.cuda if torch.cuda.is_available() else None
        except ImportError:
            env["torch"] = "not installed"
        smi = shutil.which("nvidia-smi")
        if smi:
            env["nvidia_smi"] = subprocess.run([smi], capture_output=True, text=True,
                                               timeout=30).stdout
        self.env_info = env
        return env

    def tests(self, name: str, limit: float) -> dict[str, Any]:
        xml = self.out / "tests.xml"
        select = ["-k", "device1 and (fit or resume)"] if self.dry else \
            ["--ignore=tests/test_gpu_check.py"]   # its dry run proves nothing on a GPU
        try:
            self.command(name, [PY, "-m", "pytest", "tests", "-q", "-rs", "-p",
                                "no:cacheprovider", f"--junitxml={xml}", *select], limit)
            failed = False
        except RuntimeError:
            failed = True   # the counts below say what failed
        counts = junit_counts(xml)
        if failed or counts["failed"] or counts["errors"]:
            raise RuntimeError(f"{counts['failed']} failed, {counts['errors']} errors: "
                               + ", ".join(counts["failed_ids"][:10]))
        return counts

    def info(self, name: str, limit: float) -> dict[str, Any]:
        return {"text": self.command(name, [PY, "-m", "xpnet", "info"], limit).stdout}

    def _bench(self, name: str, limit: float, backend: str, extra: list[str],
               env: dict[str, str] | None = None) -> dict[str, Any]:
        path = self.out / f"{name}-rows.json"
        if self.dry:
            sizes = ["--sizes", "64", "32", "10", "--batch-sizes", "16", "64", "--repeats", "2"]
        else:
            sizes = ["--batch-sizes", "32", "128", "512", "2048", "8192"]
        self.command(name, [PY, "-m", "xpnet", "bench", "--backend", backend, *extra, *sizes,
                            "--json", str(path)], limit, env)
        return json.loads(path.read_text())

    def bench_tf32_off(self, name: str, limit: float) -> dict[str, Any]:
        return self._bench(name, limit, self.backend, [], {"CUPY_TF32": "0"})

    def bench_tf32_on(self, name: str, limit: float) -> dict[str, Any]:
        return self._bench(name, limit, self.backend, [], {"CUPY_TF32": "1"})

    def bench_torch_cuda(self, name: str, limit: float) -> dict[str, Any]:
        if self.dry:
            raise Skip("dry run: no CUDA device")
        return self._bench(name, limit, "torch", ["--device", "cuda:0"])

    def suite(self, name: str, limit: float) -> dict[str, Any]:
        path = self.out / "suite-benchmarks.json"
        if self.dry:
            select, env = "numpy and float32 and not mnist", {"XPNET_BENCH_BATCHES": "16,64"}
        else:
            select, env = "cupy or cuda", {}
        self.command(name, [PY, "-m", "pytest", "benchmarks", "--benchmark-only", "-q", "-p",
                            "no:cacheprovider", "-k", select, "--benchmark-max-time=0.1",
                            "--benchmark-min-rounds=5", f"--benchmark-json={path}"], limit, env)
        summarize = [PY, str(HERE / "summarize.py")]
        self.command(f"{name}-compact", [*summarize, "--compact", str(path)], 60)
        table = self.command(f"{name}-summary", [*summarize, str(path)], 60).stdout
        (self.out / "suite.md").write_text(table)
        figures = {"table": "suite.md", "benchmarks": len(json.loads(path.read_text())
                                                          ["benchmarks"])}
        try:
            self.command(f"{name}-plot", [*summarize, "--plot", str(self.out / "suite.png"),
                                          str(path)], 60)
            figures["plot"] = "suite.png"
        except RuntimeError as exc:
            figures["plot"] = f"not drawn: {exc}"
        return figures

    def epoch_vs_torch(self, name: str, limit: float) -> dict[str, Any]:
        try:
            import torch
        except ImportError:
            raise Skip("PyTorch is not installed") from None
        path = self.out / "vs-torch.json"
        if self.dry:
            args = ["--limit", "1024", "--repeats", "1", "--epochs", "1", "--sizes", "784",
                    "64", "10"]
        else:
            if not torch.cuda.is_available():
                raise Skip("PyTorch sees no CUDA device")
            args = ["--gpu", "--repeats", "3", "--epochs", "2"]
        self.command(name, [PY, str(HERE / "compare_torch.py"), *args, "--json", str(path)],
                     limit)
        return json.loads(path.read_text())

    def event_crosscheck(self, name: str, limit: float) -> dict[str, Any]:
        """The suite times with the wall clock around a synchronised call; CUDA events time
        the work on the GPU itself. Where the two agree, the suite's figures can be trusted;
        where the wall clock is larger, launch and Python overhead show."""
        import numpy as np

        import xpnet
        from xpnet.bench import timer, training_step

        be = xpnet.resolve(self.backend)
        device_times, how = _device_timer(be)
        suite = _suite_medians(self.out / "suite-benchmarks.json", be.describe())
        rows = []
        rng = np.random.default_rng(0)
        for M in (16, 64) if self.dry else (128, 2048):   # batch sizes the suite timed
            A = be.asarray(rng.random((M, 784)), be.xp.float32)
            W = be.asarray(rng.random((784, 512)), be.xp.float32)
            net = xpnet.Network([784, 512, 512, 10], backend=be, seed=0)
            step = training_step(net, xpnet.SGD(0.01, momentum=0.9), M, rng)
            cases = {"gemm 784x512 forward": lambda A=A, W=W: be.xp.matmul(A, W),
                     "training step": step}
            for case, fn in cases.items():
                for _ in range(3):
                    fn()
                wall = statistics.median(timer(fn, be) for _ in range(21))
                event = statistics.median(device_times(fn, 21))
                row = {"case": case, "batch": M, "wall_us": wall * 1e6,
                       "device_us": event * 1e6, "wall_over_device": wall / event}
                if case.startswith("gemm") and (M, "forward") in suite:
                    row["suite_us"] = suite[(M, "forward")] * 1e6
                    row["suite_over_device"] = suite[(M, "forward")] / event
                rows.append(row)
        return {"device_timer": how, "rows": rows}

    def mnist_recipe(self, name: str, limit: float) -> dict[str, Any]:
        path = self.out / "mnist-recipe-metrics.json"
        args = ["--epochs", "1", "--hidden", "32"] if self.dry else []
        self.command(name, [PY, "-m", "xpnet", "train", "--backend", self.backend,
                            "--no-download", "--metrics-out", str(path), *args], limit)
        m = json.loads(path.read_text())
        return {k: m.get(k) for k in ("test_accuracy", "train_seconds", "epochs", "backend",
                                      "device") if k in m}

    def nccl_world1(self, name: str, limit: float) -> dict[str, Any]:
        if self.dry:
            raise Skip("dry run: NCCL needs a GPU")
        env = {"RANK": "0", "WORLD_SIZE": "1"}
        return self._tiny_distributed(name, limit, "nccl", env)

    def mpi_device_arrays(self, name: str, limit: float) -> dict[str, Any]:
        try:
            import mpi4py  # noqa: F401
        except ImportError:
            raise Skip("mpi4py is not installed") from None
        return self._tiny_distributed(name, limit, "mpi", {})

    def _tiny_distributed(self, name: str, limit: float, kind: str,
                          env: dict[str, str]) -> dict[str, Any]:
        path = self.out / f"{name}-metrics.json"
        self.command(name, [PY, "-m", "xpnet", "train", "--dataset", "spirals", "--epochs",
                            "5", "--backend", self.backend, "--distributed", kind,
                            "--metrics-out", str(path)], limit, env)
        m = json.loads(path.read_text())
        return {k: m.get(k) for k in ("test_accuracy", "train_seconds") if k in m}


STEPS = [  # name, time limit in seconds (the whole run stays inside --budget)
    ("environment", 60), ("tests", 240), ("info", 60), ("bench_tf32_off", 90),
    ("bench_tf32_on", 90), ("bench_torch_cuda", 90), ("suite", 240), ("epoch_vs_torch", 150),
    ("event_crosscheck", 60), ("mnist_recipe", 120), ("nccl_world1", 60),
    ("mpi_device_arrays", 60),
]


def _device_timer(be: Any) -> tuple[Any, str]:
    """``times(fn, n)``: n per-call durations measured on the device where it can (CUDA events
    through ``cupyx.profiler.benchmark``), else with the synchronised wall clock."""
    if be.name == "cupy":
        from cupyx.profiler import benchmark

        def cuda_events(fn: Any, n: int) -> list[float]:
            return [float(t) for t in benchmark(fn, (), n_repeat=n, n_warmup=3).gpu_times[0]]

        return cuda_events, "CUDA events (cupyx.profiler.benchmark)"
    from xpnet.bench import timer

    return (lambda fn, n: [timer(fn, be) for _ in range(n)],
            "wall clock (no CUDA events on this backend: a dry run of the plumbing)")


def _suite_medians(path: Path, device: str) -> dict[tuple[int, str], float]:
    """The suite's median seconds of the bare 784x512 GEMMs in float32, by (batch, op)."""
    if not path.exists():
        return {}
    out = {}
    for b in json.loads(path.read_text())["benchmarks"]:
        e = b["extra_info"]
        if (e.get("kind") == "bare" and e.get("layer") == "784x512"
                and e.get("dtype") == "float32" and e.get("device") == device):
            out[(e["batch_size"], e["op"])] = b["stats"]["median"]
    return out


def junit_counts(path: Path) -> dict[str, Any]:
    """Passed, failed, errors and skipped from a JUnit XML report, with the failed test ids
    and how many tests passed on each GPU backend."""
    if not path.exists():
        raise RuntimeError("pytest wrote no report")
    counts: dict[str, Any] = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                              "failed_ids": [], "passed_on": {"cupy": 0, "torch:cuda": 0}}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            counts["failed"] += 1
            counts["failed_ids"].append(test_id)
        elif "error" in kinds:
            counts["errors"] += 1
            counts["failed_ids"].append(test_id)
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
            for gpu in counts["passed_on"]:
                counts["passed_on"][gpu] += f"[{gpu}" in test_id
    return counts


def headline(r: dict[str, Any]) -> str:
    """One line for the summary table."""
    if r["status"] == "skipped":
        return r.get("reason", "")
    if r["status"] == "failed":
        return r.get("error", "")[:300]
    step = r["step"]
    if step == "environment":
        return f"{r.get('gpu', 'no GPU')}, CuPy {r.get('cupy')}, CUDA runtime " \
               f"{r.get('cuda_runtime', '-')}, driver {r.get('cuda_driver', '-')}"
    if step == "tests":
        on = ", ".join(f"{k} {v}" for k, v in r["passed_on"].items())
        return f"{r['passed']} passed, {r['failed']} failed, {r['skipped']} skipped ({on} passed)"
    if step == "info":
        return r["text"].strip().splitlines()[0] if r.get("text") else ""
    if step.startswith("bench_"):
        return "; ".join(f"b{x['batch_size']}: step/GEMMs {x['step_over_gemm']:.2f}, "
                         f"{x['step_gflops']:.0f} GFLOP/s" for x in r.get("results", []))
    if step == "suite":
        return f"{r['benchmarks']} timings, {r['table']}, {r['plot']}"
    if step == "epoch_vs_torch":
        m = r["median"]
        return f"xpnet {m['xpnet']:.3f} s vs torch {m['torch']:.3f} s per epoch: " \
               f"{r['ratio']:.2f}x"
    if step == "event_crosscheck":
        return "; ".join(f"{x['case']} b{x['batch']}: wall/device {x['wall_over_device']:.2f}"
                         for x in r["rows"])
    if "test_accuracy" in r:
        return f"test accuracy {r['test_accuracy']:.4f}, training {r['train_seconds']:.1f} s"
    return ""


def write_summary(check: Check, started: str) -> None:
    env = getattr(check, "env_info", {})
    device = env.get("gpu") or f"no GPU ({check.backend} dry run)"
    lines = [f"# GPU check: {device}", "",
             f"{started}; xpnet {env.get('xpnet', '?')}, Python {env.get('python', '?')}, "
             f"NumPy {env.get('numpy', '?')}, CuPy {env.get('cupy', '?')}, CUDA runtime "
             f"{env.get('cuda_runtime', '-')}, driver {env.get('cuda_driver', '-')}, PyTorch "
             f"{env.get('torch', '?')} (CUDA {env.get('torch_cuda', '-')}); "
             f"{'dry run on NumPy' if check.dry else 'backend cupy'}.", "",
             "| step | status | seconds | result |", "| --- | --- | ---: | --- |"]
    for r in check.results:
        text = headline(r).replace("|", "/").replace("\n", " ")
        lines.append(f"| {r['step']} | {r['status']} | {r['seconds']} | {text} |")
    (check.out / "summary.md").write_text("\n".join(lines) + "\n")
    (check.out / "summary.json").write_text(json.dumps(
        {"device": device, "started": started, "dry_run": check.dry,
         "steps": check.results}, indent=2, default=str))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for the JSON, logs and summary")
    p.add_argument("--dry-run", action="store_true",
                   help="run every step's plumbing on NumPy with small sizes")
    p.add_argument("--budget", type=float, default=540,
                   help="seconds for the whole run; steps left when it runs out are skipped")
    p.add_argument("--only", nargs="+", metavar="STEP", choices=[s for s, _ in STEPS],
                   help="run only these steps")
    args = p.parse_args()
    check = Check(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    for name, limit in STEPS:
        if args.only and name not in args.only and name != "environment":
            continue
        check.step(name, getattr(check, name), limit)
    write_summary(check, started)
    failed = [r["step"] for r in check.results if r["status"] == "failed"]
    print(f"wrote {check.out / 'summary.md'}; "
          + (f"failed: {', '.join(failed)}" if failed else "no step failed"), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
