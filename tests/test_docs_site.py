"""The documentation site builds with ``mkdocs build --strict``: a broken link or reference, a
page missing from the navigation or a docstring mkdocstrings cannot render fails the tests."""

from __future__ import annotations

import os
import re
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
    # cross-references in docstrings are links (mkdocstrings' [`name`][path]), never the raw
    # text of a Sphinx role, which MkDocs would show as it is
    role = re.compile(r":(meth|class|func|mod|data|attr|exc):`?[\w.~]+")
    raw = [f"{page.relative_to(tmp_path)}: {m.group(0)}"
           for page in (tmp_path / "site").rglob("*.html")
           for m in role.finditer(page.read_text())]
    assert not raw, raw[:10]
    assert html.count('class="autorefs autorefs-internal"') >= 150
    shutil.rmtree(tmp_path / "site")


def test_no_docstring_holds_a_sphinx_role():
    """The source itself: a role would reach the site as raw text (the build test above sees
    what is rendered; this one sees every docstring, rendered or not)."""
    src = ROOT / "src" / "xpnet"
    found = [f"{p.relative_to(ROOT)}:{n}" for p in sorted(src.rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r":(meth|class|func|mod|data|attr|exc):`", line)]
    assert not found, found
