"""The one-command GPU check, run dry on NumPy: every step's plumbing works, each step writes
its JSON, the summary names every step, and a failing step is recorded without stopping the
others. (On a GPU machine the same script runs the real thing: benchmarks/results/README.md.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
sys.path.insert(0, str(SCRIPT.parent))
import gpu_check  # noqa: E402

STEPS = [name for name, _ in gpu_check.STEPS]


def run(out, *args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_dry_run_exercises_every_step(tmp_path, data_dir):
    pytest.importorskip("matplotlib")
    r = run(tmp_path)
    assert r.returncode == 0, r.stderr
    records = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in STEPS}
    skipped = {n for n, rec in records.items() if rec["status"] == "skipped"}
    may_skip = {"bench_torch_cuda", "nccl_world1", "epoch_vs_torch", "mpi_device_arrays"}
    assert skipped <= may_skip and {"bench_torch_cuda", "nccl_world1"} <= skipped
    assert all(rec["status"] in ("ok", "skipped") for rec in records.values())
    assert records["tests"]["passed"] > 0 and records["tests"]["failed"] == 0
    assert [row["batch_size"] for row in records["bench_tf32_off"]["results"]] == [16, 64]
    assert records["bench_tf32_on"]["results"][0]["tf32"] == "n/a"   # NumPy: no tensor cores
    rows = records["event_crosscheck"]["rows"]
    assert len(rows) == 4 and all(row["device_us"] > 0 for row in rows)
    assert all("suite_us" in row for row in rows if row["case"].startswith("gemm"))
    assert 0 < records["mnist_recipe"]["test_accuracy"] <= 1
    assert (tmp_path / "suite.png").read_bytes()[:4] == b"\x89PNG"
    assert "### numpy (cpu) (TF32: n/a)" in (tmp_path / "suite.md").read_text()
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("# GPU check: no GPU (numpy dry run)")
    assert all(f"| {name} |" in summary for name in STEPS)


def test_a_failing_step_is_recorded_and_the_next_one_runs(tmp_path):
    r = run(tmp_path, "--only", "mnist_recipe", "info",
            env={"XPNET_DATA_DIR": str(tmp_path / "no-data")})
    assert r.returncode == 1
    assert json.loads((tmp_path / "mnist_recipe.json").read_text())["status"] == "failed"
    assert json.loads((tmp_path / "info.json").read_text())["status"] == "ok"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == ["environment", "info", "mnist_recipe"]
    assert "failed: mnist_recipe" in r.stderr
