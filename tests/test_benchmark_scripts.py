"""The step-profiling scripts still run against the current engine, on a small network: the
hand-written NumPy step of ``benchmarks/array_api_overhead.py`` takes the same step as xpnet's
(it checks that the parameters agree after one step each), ``profile_step.py`` prints a
row for every part of the step, and every scenario of ``compare_sklearn.py`` runs for both
libraries."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import array_api_overhead  # noqa: E402
import compare_sklearn  # noqa: E402
import profile_step  # noqa: E402


@pytest.mark.parametrize("sizes", [(20, 8, 3), (20, 8, 6, 3)])
def test_the_hand_written_step_is_the_same_step(sizes):
    row = array_api_overhead.measure(16, repeats=1, sizes=sizes)
    assert row["sizes"] == list(sizes) and row["batch_size"] == 16
    for key in ("xpnet_us", "plain_numpy_us", "gemm_us", "ratio", "plain_over_gemm"):
        assert row[key] > 0


def test_the_hand_written_step_would_notice_a_different_step(monkeypatch):
    wrong = array_api_overhead.PlainNumpy.step

    def half_rate(self, X, Y):
        self.lr = self.lr / 2
        return wrong(self, X, Y)

    monkeypatch.setattr(array_api_overhead.PlainNumpy, "step", half_rate)
    with pytest.raises(AssertionError):
        array_api_overhead.measure(16, repeats=1, sizes=(20, 8, 3))


def test_profile_step_prints_every_part(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["profile_step.py", "--sizes", "20", "8", "3",
                                      "--batch", "4"])
    def once(parts, repeats=15):   # runs every part once instead of timing it
        for fn in parts.values():
            fn()
        return {name: 1.0 for name in parts}

    monkeypatch.setattr(profile_step, "timed", once)
    profile_step.main()
    table = capsys.readouterr().out
    for part in ("whole step", "batch gather (X and Y rows)", "forward GEMMs (2)",
                 "weight-gradient GEMMs (2)",
                 "input-gradient GEMMs (1)", "bias adds, ReLU masks (1 layer)",
                 "ReLU backward (1 layer)", "bias gradients (2 sums)",
                 "softmax + cross-entropy + error", "SGD-momentum update"):
        assert f"| {part}" in table


def test_the_version_comparison_times_a_tree_in_a_fresh_process():
    import ab_versions

    src = Path(__file__).resolve().parents[1] / "src"
    us = ab_versions.one(str(src), "20-8-3", 4, 5, 2)
    assert us > 0


@pytest.mark.parametrize("scenario", list(compare_sklearn.SCENARIOS))
def test_every_scikit_learn_comparison_runs_for_both_libraries(scenario):
    pytest.importorskip("sklearn")
    for library in ("xpnet", "sklearn"):
        row = compare_sklearn.child(library, scenario, "wine", 0)
        assert row["metric"] == "accuracy" and row["n"] == 178
        assert 0.8 < row["score"] <= 1.0 and row["fit_seconds"] > 0


def test_profile_precision_splits_both_steps(monkeypatch, capsys, tmp_path):
    pytest.importorskip("torch")
    import json

    import profile_precision

    out = tmp_path / "p.json"
    monkeypatch.setattr(sys, "argv", ["profile_precision.py", "--sizes", "20", "8", "3",
                                      "--batch", "8", "--rounds", "1", "--steps", "2",
                                      "--json", str(out)])
    assert profile_precision.main() == 0
    text = capsys.readouterr().out
    assert "bf16-mixed / 32, median over 1 rounds" in text
    rows = json.loads(out.read_text())["rows"]
    assert rows["bf16-mixed"]["casts_us"] > 0 and rows["32"]["gemm_us"] > 0
    for r in rows.values():
        assert r["ops_us"] == pytest.approx(r["gemm_us"] + r["casts_us"] + r["other_us"])
