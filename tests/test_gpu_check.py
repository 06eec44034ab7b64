"""The one-command GPU check, run dry on NumPy: the steps run in order of value, each writes
its JSON with its expected time, a failing step is recorded without stopping the others, a step
that hangs is stopped (gracefully, or killed when it ignores the stop) with what it wrote kept,
and the results are packed after every step. (On a GPU machine the same script runs the real
thing: benchmarks/results/README.md.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
sys.path.insert(0, str(SCRIPT.parent))
import gpu_check  # noqa: E402

STEPS = [s.name for s in gpu_check.STEPS]


def run(out, *args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_the_most_valuable_steps_come_first_and_fit_the_budget():
    assert STEPS[:4] == ["environment", "info", "mnist_recipe", "gpu_tests"]
    assert STEPS[-1] == "suite" and "tests" not in STEPS   # CI runs the CPU tests
    assert sum(s.estimate_s for s in gpu_check.STEPS) <= gpu_check.BUDGET_S
    assert all(s.why and s.estimate_s <= s.limit_s for s in gpu_check.STEPS)


def test_the_gpu_tests_estimate_rests_on_the_count_collected(data_dir):
    r = subprocess.run([sys.executable, "-m", "pytest", "tests", "--collect-only", "-q",
                        "-p", "no:cacheprovider", "--ignore=tests/test_gpu_check.py",
                        "--continue-on-collection-errors", "-k", "cupy or cuda"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    counted = [ln for ln in r.stdout.splitlines() if "tests collected" in ln]
    assert counted, r.stdout[-2000:]
    found = int(counted[-1].split("/")[0])
    assert abs(found - gpu_check.GPU_TEST_CASES) <= 0.1 * found, \
        f"{found} GPU cases collected: update GPU_TEST_CASES and the gpu_tests estimate"
    assert str(gpu_check.GPU_TEST_CASES) in gpu_check.BY_NAME["gpu_tests"].why


@pytest.mark.parametrize("scheme", ["", "local"])
def test_the_carried_mpich_is_found_wherever_the_prefix_scheme_put_it(tmp_path, monkeypatch,
                                                                     scheme):
    """``pip install --prefix P`` writes P/bin and P/lib, or under a Debian system Python
    (the posix_local scheme) P/local/bin and P/local/lib; either way the steps' PATH starts
    with that mpiexec, ahead of the interpreter's folder, and mpi4py is told the library."""
    base = tmp_path / scheme
    (base / "bin").mkdir(parents=True)
    (base / "lib").mkdir()
    (base / "bin" / "mpiexec").write_text("")
    (base / "lib" / "libmpi.so.12").write_text("")
    assert gpu_check.carried_mpich(tmp_path) == (base / "bin", base / "lib" / "libmpi.so.12")
    monkeypatch.setenv("XPNET_MPI_PREFIX", str(tmp_path))
    env = gpu_check.child_env()
    path = env["PATH"].split(os.pathsep)
    assert path[0] == str(base / "bin") and path[1] == str(Path(sys.executable).parent)
    assert env["MPI4PY_LIBMPI"] == str(base / "lib" / "libmpi.so.12")
    assert gpu_check.carried_mpich(tmp_path / "nothing") is None


@pytest.mark.slow
def test_dry_run_exercises_every_step(tmp_path, data_dir):
    out, packed = tmp_path / "out", tmp_path / "packed"
    r = run(out, "--pack-dir", str(packed))
    assert r.returncode == 0, r.stderr
    records = {name: json.loads((out / f"{name}.json").read_text()) for name in STEPS}
    skipped = {n for n, rec in records.items() if rec["status"] == "skipped"}
    may_skip = {"bench_torch_cuda", "epoch_vs_torch", "distributed", "profile",
                "mixed_precision"}
    assert skipped <= may_skip and "bench_torch_cuda" in skipped
    assert all(rec["status"] in ("ok", "skipped") for rec in records.values())
    assert all(rec["estimate_s"] > 0 and rec["limit_s"] > 0 for rec in records.values())
    assert records["gpu_tests"]["passed"] > 0 and records["gpu_tests"]["failed"] == 0
    assert [row["batch_size"] for row in records["bench_tf32_off"]["results"]] == [16, 64]
    assert records["bench_tf32_on"]["results"][0]["tf32"] == "n/a"   # NumPy: no tensor cores
    assert 0 < records["mnist_recipe"]["test_accuracy"] <= 1
    if records["mixed_precision"]["status"] == "ok":   # torch installed: bf16 on its CPU
        mixed = records["mixed_precision"]
        assert 0 < mixed["torch_bf16"]["test_accuracy"] <= 1
        assert mixed["torch_bf16"]["bench"][0]["gemm_dtype"] == "bfloat16"
        assert mixed["cupy_fp16"] == {"status": "skipped", "reason": "dry run: no CUDA device"}
    summary = json.loads((out / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == STEPS
    assert summary["estimate_total_s"] <= summary["budget_s"] == 540
    text = (out / "summary.md").read_text()
    assert text.startswith("# GPU check: no GPU (numpy dry run)")
    assert all(f"| {name} |" in text for name in STEPS)
    assert (packed / "summary.md").read_text() == text
    with tarfile.open(packed / "gpu-check.tgz") as tar:
        assert {"summary.json", "gpu_tests.json", "gpu-tests.xml"} <= set(tar.getnames())


def test_a_failing_step_is_recorded_and_the_next_one_runs(tmp_path):
    r = run(tmp_path, "--only", "mnist_recipe", "info",
            env={"XPNET_DATA_DIR": str(tmp_path / "no-data")})
    assert r.returncode == 1
    assert json.loads((tmp_path / "mnist_recipe.json").read_text())["status"] == "failed"
    assert json.loads((tmp_path / "info.json").read_text())["status"] == "ok"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == ["environment", "info", "mnist_recipe"]
    assert "failed or timed out: mnist_recipe" in r.stderr


@pytest.mark.parametrize("how", ["", ":hard"])
def test_a_hanging_step_is_stopped_its_report_kept_and_the_next_one_runs(tmp_path, how):
    out, packed = tmp_path / "out", tmp_path / "packed"
    r = run(out, "--only", "info", "bench_tf32_off", "--limit", "info=3", "--pack-dir",
            str(packed), env={"XPNET_GPU_CHECK_HANG": f"info{how}", "XPNET_GPU_CHECK_GRACE": "2"})
    assert r.returncode == 1
    info = json.loads((out / "info.json").read_text())
    assert info["status"] == "timed out" and info["limit_s"] == 3
    assert info["seconds"] < 3 + 2 + 10                    # stopped, not left to hang
    if how:   # ignored SIGINT: killed after the grace; what it printed is kept
        assert "killed" in info["reason"] and "started" in (out / "info.child.log").read_text()
    else:     # stopped gracefully: the step's own report and its command's log survive
        assert "stopped at its time limit" in info["reason"]
        assert "started" in (out / "info.log").read_text()
    assert json.loads((out / "bench_tf32_off.json").read_text())["status"] == "ok"
    assert "| info | timed out |" in (packed / "summary.md").read_text()


def test_a_module_that_cannot_be_imported_leaves_the_other_gpu_tests_running(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_fine.py").write_text("def test_fit_on_device1():\n    assert True\n")
    (tests / "test_broken.py").write_text("import a_test_library_not_here\n\n"
                                          "def test_fit_on_device1():\n    pass\n")
    out = tmp_path / "out"
    r = run(out, "--only", "gpu_tests", env={"XPNET_GPU_CHECK_TESTS": str(tests)})
    record = json.loads((out / "gpu_tests.json").read_text())
    assert r.returncode == 1 and record["status"] == "failed"
    assert record["passed"] == 1 and record["errors"] == 1, record


def test_a_kind_stopped_at_the_limit_keeps_the_other_kinds_figures(tmp_path):
    """The distributed step's NCCL launch hangs and is stopped: the MPI figures survive."""
    env = gpu_check.child_env()
    if not gpu_check.mpi_status(env).startswith("ok"):
        pytest.skip(f"MPI cannot run here: {gpu_check.mpi_status(env)}")
    out = tmp_path / "out"
    run(out, "--only", "distributed", "--limit", "distributed=15",
        env={"XPNET_GPU_CHECK_HANG": "distributed-nccl", "XPNET_GPU_CHECK_GRACE": "2",
             "OPENBLAS_NUM_THREADS": "1"})
    record = json.loads((out / "distributed.json").read_text())
    assert record["status"] == "timed out", record
    assert record["mpi"]["status"] == "ok" and record["mpi"]["test_accuracy"] > 0.5
    assert record["nccl"]["status"] == "timed out"


def test_failing_tests_keep_every_count(tmp_path):
    """A test run with failures is recorded as failed with all its counts and every failing
    id, not a message in their place."""
    import xml.etree.ElementTree as ET

    xml = tmp_path / "report.xml"
    suite = ET.Element("testsuite")
    for name, outcome in [("test_a[cupy]", None), ("test_b[cupy]", "failure"),
                          ("test_c[torch:cuda]", None), ("test_d[numpy]", "skipped")]:
        case = ET.SubElement(suite, "testcase", classname="tests.test_x", name=name)
        if outcome:
            ET.SubElement(case, outcome)
    ET.ElementTree(suite).write(xml)
    counts = gpu_check.junit_counts(xml)
    assert (counts["passed"], counts["failed"], counts["skipped"]) == (2, 1, 1)
    assert counts["passed_on"] == {"cupy": 1, "torch:cuda": 1}
    assert counts["failed_ids"] == ["tests.test_x::test_b[cupy]"]
    record = {"step": "gpu_tests", "status": "failed", "error": "1 failed", **counts}
    assert gpu_check.headline(record).startswith("2 passed, 1 failed, 0 errors, 1 skipped")
