"""The documentation site builds with ``mkdocs build --strict``: a broken link or reference, a
page missing from the navigation or a docstring mkdocstrings cannot render fails the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install '.[docs]'")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    mkdocs = [sys.executable, "-m", "mkdocs"]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([*mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for page in ("index", "getting-started", "cli", "reference", "adding-a-backend"):
        assert (tmp_path / "site" / page / "index.html").exists() or page == "index"
    html = (tmp_path / "site" / "reference" / "index.html").read_text()
    assert "loss_and_grads" in html and "TrainingStep" in html   # generated from docstrings
    shutil.rmtree(tmp_path / "site")
