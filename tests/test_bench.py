"""``xpnet bench``: the GEMMs it counts, the figures it derives, and the command end to end.

Timing values themselves are never asserted on (tests do not judge wall-clock time); what is
checked is that the work counted is the work a step does and that the reported figures are
consistent with one another."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xpnet import bench
from xpnet.backend import resolve
from xpnet.cli import main


def reference_flops(sizes, M):
    """Counted by hand from the maths: per layer 2 M n_in n_out for Z = A W and as much for
    dW = A^T D; the input gradient D W^T for every layer but the first."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    forward_and_weight = sum(2 * 2 * M * a * b for a, b in layers)
    input_grads = sum(2 * M * a * b for a, b in layers[1:])
    return forward_and_weight + input_grads


@pytest.mark.parametrize("sizes", [(784, 512, 512, 10), (784, 100, 10), (3, 2)])
@pytest.mark.parametrize("M", [1, 32, 128])
def test_step_flops_match_the_hand_count(sizes, M):
    assert bench.step_flops(sizes, M) == reference_flops(sizes, M)
    assert len(bench.gemm_shapes(sizes, M)) == 3 * (len(sizes) - 1) - 1


def test_gemm_operands_have_the_steps_shapes_and_layouts():
    """Each bare GEMM multiplies operands shaped and laid out as the step's: ``A^T @ D``
    reads a transposed view, ``D @ W^T`` a transposed weight matrix."""
    sizes, M = (7, 5, 3), 4
    backend = resolve("numpy")
    shapes = bench.gemm_shapes(sizes, M)
    operands = bench._operands(backend, np.float32, shapes, np.random.default_rng(0))
    for (name, (m, k, n), transposed), (a, b) in zip(shapes, operands):
        assert a.shape == (m, k) and b.shape == (k, n), name
        assert a.dtype == b.dtype == np.float32
        assert (transposed == "left") == (not a.flags.c_contiguous), name
        assert (transposed == "right") == (not b.flags.c_contiguous), name
    assert [s[0] for s in shapes] == ["forward1", "weight_grad1", "forward2", "weight_grad2",
                                      "input_grad2"]


def relu_network(sizes, backend, dtype, precision="32"):
    import xpnet

    return xpnet.Network(sizes, hidden="relu", backend=backend, dtype=dtype, seed=0,
                         precision=precision)


def test_measure_reports_consistent_figures(backend):
    r = bench.measure(relu_network, backend, 8, repeats=2, sizes=(12, 6, 3), sample_seconds=0.005)
    flops = bench.step_flops((12, 6, 3), 8)
    assert r["backend"] == backend.name and r["batch_size"] == 8 and r["dtype"] == "float32"
    assert r["step_us"] > 0 and r["gemm_us"] > 0 and r["step_over_gemm"] > 0
    assert r["step_gflops"] == pytest.approx(flops / (r["step_us"] * 1e-6) / 1e9)
    assert r["gemm_gflops"] == pytest.approx(flops / (r["gemm_us"] * 1e-6) / 1e9)


def test_the_timed_step_is_a_fits_step_over_a_permutation(backend, monkeypatch):
    """Each call runs a TrainingStep on the next full batch of one permutation of the whole
    training set, as an epoch does, and trains the network."""
    import xpnet
    from xpnet.backend import to_numpy
    from xpnet.step import TrainingStep

    seen = []
    real = TrainingStep.__call__

    def spy(self, idx, share=1.0):
        seen.append(to_numpy(idx).tolist())
        assert self.X.shape == (20, 12)   # the step gathers from the whole set
        return real(self, idx, share)

    monkeypatch.setattr(TrainingStep, "__call__", spy)
    net = xpnet.Network([12, 6, 3], backend=backend, seed=0)
    before = to_numpy(net.parameters()[0]).copy()
    step = bench.training_step(net, xpnet.SGD(0.1, momentum=0.9), 6, np.random.default_rng(0),
                               rows=20)
    for _ in range(4):
        cost, hits = step()
        assert tuple(hits.shape) == (6,)
    assert [len(b) for b in seen] == [6, 6, 6, 6]
    assert len(set(sum(seen[:3], []))) == 18          # three batches, no row twice
    assert seen[3] == seen[0]                          # then round again
    assert not np.array_equal(to_numpy(net.parameters()[0]), before)


def test_cli_prints_a_row_per_batch_and_writes_json(tmp_path, capsys):
    out = tmp_path / "sub" / "bench.json"
    code = main(["bench", "--backend", "numpy", "--device", "cpu", "--sizes", "20", "8", "3",
                 "--batch-sizes", "4", "16", "--repeats", "1", "--json", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    lines = printed.out.splitlines()
    assert lines[0].startswith("training step of 20-8-3 vs its GEMMs, float32")
    assert [line.split()[2] for line in lines[2:]] == ["4", "16"]  # "numpy (cpu)  M ..."
    saved = json.loads(out.read_text())
    assert saved["sizes"] == [20, 8, 3]
    assert [r["batch_size"] for r in saved["results"]] == [4, 16]
    for r, line in zip(saved["results"], lines[2:]):
        assert float(line.split()[3]) == pytest.approx(r["step_us"], abs=0.051)


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "5"], "--sizes needs at least an input and an output size"),
    (["--sizes", "0", "3"], "must be >= 1"),
    (["--backend", "nonsense"], "nonsense"),
    (["--backend", "numpy", "--device", "cuda:0"], "the numpy backend runs on the CPU only"),
])
def test_cli_mistakes_end_in_one_line(capsys, argv, message):
    try:
        code = main(["bench", *argv])
    except SystemExit as exc:  # argparse's own checks exit from inside the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.parametrize("sizes", [(784, 512, 512, 10), (784, 100, 10), (3, 2)])
def test_the_gemms_listed_are_the_gemms_counted(sizes):
    """xpnet bench's operand list and the count the fit's BLAS-thread choice uses agree."""
    import xpnet
    from xpnet.step import layer_sizes

    shapes = bench.gemm_shapes(sizes, 32)
    assert bench.step_flops(sizes, 32) == sum(2 * m * k * n for _, (m, k, n), _ in shapes)
    net = xpnet.Network(list(sizes), backend="numpy", seed=0)
    assert layer_sizes(net.named_parameters()) == list(sizes)
