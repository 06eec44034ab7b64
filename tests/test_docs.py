"""The docs match the code: every function, class, method and test the README and the pages
of docs/ name in backticks exists, and their commands use real flags."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import xpnet
from xpnet import activations, layers, losses, network
from xpnet.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OWNERS = {"Dense": layers.Dense, "Dropout": layers.Dropout, "Network": network.Network,
          "Loss": losses.Loss, "Activation": activations.Activation}


def quoted(path):
    return re.findall(r"`([^`\n]+)`", path.read_text())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_code_exists(doc):
    test_names = {m for p in (ROOT / "tests").glob("test_*.py")
                  for m in re.findall(r"^def (test_\w+)", p.read_text(), re.M)}
    missing = []
    for q in quoted(doc):
        name = q.split("(")[0].removesuffix("'s")
        if re.fullmatch(r"test_\w+", name):
            if name not in test_names:
                missing.append(name)
        elif re.fullmatch(r"xpnet(\.\w+)+", name):
            obj = xpnet
            parts = name.split(".")
            for i, part in enumerate(parts[1:], start=1):
                found = getattr(obj, part, None)
                if found is None:   # a submodule xpnet does not import itself (optional extras)
                    try:
                        found = importlib.import_module(".".join(parts[:i + 1]))
                    except ImportError:
                        found = None
                obj = found
            if obj is None:
                missing.append(name)
        elif re.fullmatch(r"(Dense|Dropout|Network|Loss|Activation)\.\w+", name):
            owner, attr = name.split(".")
            if not hasattr(OWNERS[owner], attr) and attr not in ("W", "b"):
                missing.append(name)
        elif re.fullmatch(r"(activations|losses|init)\.\w+", name):
            mod, attr = name.split(".")
            if not hasattr(getattr(xpnet, mod), attr):
                missing.append(name)
    assert not missing, f"{doc.name} names what the code lacks: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_commands_use_real_flags(doc):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    text = doc.read_text()
    bad = []
    for line in re.findall(r"^(?:\$ )?(xpnet [^\n#|]*)", text, re.M) + \
            re.findall(r"`(xpnet [^`]*)`", text):
        words = line.split()
        if len(words) < 2 or words[1] not in sub:
            continue
        known = {o for a in sub[words[1]]._actions for o in a.option_strings}
        bad += [w for w in words if w.startswith("--") and w not in known]
    assert not bad, f"{doc.name} uses unknown flags: {sorted(set(bad))}"
