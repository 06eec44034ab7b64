"""Fault tests: a training process killed (SIGKILL) at any moment, including in the middle of
writing a checkpoint, leaves the previous checkpoint intact and loadable, and --resume continues
from it; Ctrl-C (SIGINT) stops cleanly. Property tests: the readers on random and mutated bytes
load or raise the library's own error, never anything else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpnet
from xpnet import loading

posix_only = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")


def start(ck, *extra):
    """A long training run that checkpoints every epoch (a 4 MB checkpoint)."""
    cmd = [sys.executable, "-m", "xpnet", "train", "--dataset", "spirals", "--hidden", "512",
           "512", "--epochs", "100000", "--checkpoint", str(ck), "--checkpoint-every", "1",
           "--backend", "numpy", *extra]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    # a job started in the background (nohup ... &) inherits SIGINT ignored; the child gets
    # the default back, as a foreground command has it, so the signal tests hold either way
    restore = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if os.name == "posix" \
        else None
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True, preexec_fn=restore)


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.0002)
    return False


def parts(ck):
    return list(ck.parent.glob(f".{ck.name}.*.part"))


def epochs_done(ck):
    _, state, _ = loading.load_with_state(ck, backend="numpy")
    return state["epochs_done"]


@posix_only
def test_sigkill_during_and_between_checkpoint_writes(tmp_path):
    ck = tmp_path / "run.ckpt.npz"
    seen = []
    for moment in ("first write", "later write", "between writes", "later write"):
        proc = start(ck, "--quiet", *(["--resume", str(ck)] if ck.exists() else []))
        try:
            if moment == "first write":
                assert wait_for(lambda: parts(ck)), "no checkpoint write seen"
            elif moment == "later write":
                # once this run has written a checkpoint of its own, kill it the instant the
                # next write's temporary file appears
                mtime = ck.stat().st_mtime_ns
                assert wait_for(lambda m=mtime: ck.stat().st_mtime_ns != m)
                assert wait_for(lambda: parts(ck))
            else:
                assert wait_for(lambda: ck.exists() and not parts(ck))
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if moment == "first write":
            assert not ck.exists()          # nothing half-written under the real name
            wait_for(lambda: False, 0.0)
            # run until one checkpoint lands, then continue with the other moments
            proc = start(ck, "--quiet")
            assert wait_for(lambda: ck.exists())
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        net, state, arrays = loading.load_with_state(ck, backend="numpy")   # intact and loadable
        assert all(np.all(np.isfinite(xpnet.backend.to_numpy(p))) for p in net.parameters())
        seen.append(state["epochs_done"])
    assert seen == sorted(seen) and seen[-1] >= 1
    # --resume continues from it to the end, and the leftover temporary files are cleaned up
    m = tmp_path / "m.json"
    target = seen[-1] + 2
    proc = subprocess.run([sys.executable, "-m", "xpnet", "train", "--dataset", "spirals",
                           "--resume", str(ck), "--epochs", str(target), "--backend", "numpy",
                           "--metrics-out", str(m), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert epochs_done(ck) == target and not parts(ck)


@posix_only
@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_cleanly_and_saves(tmp_path, sig, status):
    """Ctrl-C (SIGINT) and a scheduler's SIGTERM both stop at a step boundary: the model is
    saved, the last checkpoint stays loadable, the command says how to continue and exits
    with 128 + the signal's number."""
    ck, model = tmp_path / "run.ckpt.npz", tmp_path / "model.npz"
    proc = start(ck, "--save", str(model))
    try:
        assert wait_for(lambda: ck.exists())
        time.sleep(0.2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert f"interrupted ({sig.name})" in err and "Traceback" not in err
    assert f"to continue: xpnet train --resume {ck}" in err
    assert epochs_done(ck) >= 1
    assert loading.load(model, backend="numpy").n_inputs == 2


# ------------------------------------------------------------------ readers on random bytes
@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789.,-+e\n naINFxy\"")), max_size=80))
def test_csv_reader_on_random_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("csv") / "r.csv"
    path.write_text(text)
    try:
        ds = xpnet.datasets.load_csv(path)
    except xpnet.DataError:
        return
    assert np.all(np.isfinite(ds.X_train)) and len(ds.X_train) == len(ds.y_train)
    assert ds.task == "regression" or ds.n_classes >= 2   # a target has no classes


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 39), st.integers(0, 255))
def test_idx_reader_on_mutated_files(data, pos, byte):
    """Start from a valid file, overwrite one byte and append random bytes."""
    from xpnet.datasets import idx

    valid = bytearray(b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03" + bytes(range(6)))
    valid[pos % len(valid)] = byte
    try:
        arr = idx.parse_idx(bytes(valid) + data)
    except xpnet.DataError:
        return
    assert arr.ndim >= 1


@posix_only
def test_sigkill_during_download_leaves_no_partial_file(tmp_path):
    """A download killed half-way (the server on loopback sends slowly) leaves the cache as it
    was: the old file intact, nothing half-written under the real name."""
    import http.server
    import threading

    payload = b"x" * 200_000

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            for i in range(0, len(payload), 10_000):
                self.wfile.write(payload[i:i + 10_000])
                self.wfile.flush()
                time.sleep(0.1)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = tmp_path / "cache" / "file.bin"
    target.parent.mkdir()
    target.write_bytes(b"old, verified content")
    url = f"http://127.0.0.1:{server.server_address[1]}/file.bin"
    code = ("import sys; from pathlib import Path; from xpnet.datasets import download as d; "
            "d.download([sys.argv[1]], Path(sys.argv[2]), lambda b: None, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code, url, str(target)])
    try:
        time.sleep(0.8)          # about 80 KB of 200 KB sent
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        server.shutdown()
    assert target.read_bytes() == b"old, verified content"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]
