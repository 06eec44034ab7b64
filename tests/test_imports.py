"""xpnet's modules import one another in layers, never in a circle (function-level imports and
imports under ``if TYPE_CHECKING:`` included); the engine's parts talk through public names; and
no function grows past a screenful."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "xpnet"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The xpnet modules ``path`` imports, at run time or for annotations."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else \
        module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:   # "from . import io" names a module
                candidate = f"{target}.{alias.name}"
                found.add(candidate if module_path(candidate) else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("xpnet")}
    return {m for m in found if module_path(m)}


def module_path(name: str) -> Path | None:
    rel = Path(*name.split("."))
    for candidate in (SRC.parent / rel.with_suffix(".py"), SRC.parent / rel / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def test_no_import_cycles():
    graph = {module_name(p): imports(p) for p in SRC.rglob("*.py")}
    # the package __init__ files gather their modules for users; they sit above everything
    graph = {m: {d for d in deps if not module_path(d).name == "__init__.py"}
             for m, deps in graph.items() if not m.endswith("__init__") and m != "xpnet"}
    cycles = []
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def private_reaches(path: Path) -> list[str]:
    """Every ``obj._name`` in ``path`` where ``obj`` is not ``self``, ``cls`` or ``super()``;
    a module's private name reached through the module (``os._exit``) is marked so."""
    tree = ast.parse(path.read_text())
    modules = {a.asname or a.name for node in ast.walk(tree)
               if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and \
                not node.attr.startswith("__"):
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else None
            if name in ("self", "cls") or (isinstance(owner, ast.Call) and
                                            getattr(owner.func, "id", None) == "super"):
                continue
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}"
                         + (" (module)" if name in modules else ""))
    return found


def test_the_parts_talk_through_public_names():
    """At most 6 reaches into another object's private members in all of src/xpnet (the
    optional libraries' private helpers, each named here), and none into a model's."""
    reaches = [r for p in sorted(SRC.rglob("*.py")) for r in private_reaches(p)]
    into_models = [r for r in reaches if any(k in r for k in ("net.", "model.", "network_."))]
    assert not into_models, into_models
    assert len(reaches) <= 6, "\n".join(reaches)


def test_the_private_reach_counter_sees_one():
    import textwrap

    probe = SRC.parent / "probe_private.py"
    try:
        probe.write_text(textwrap.dedent("""
            def f(net, self):
                return net._step(self._x)
        """))
        assert private_reaches(probe) == ["probe_private.py:3 net._step"]
    finally:
        probe.unlink()


def long_functions(path: Path, limit: int = 80) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > limit and node.name != "build_parser":   # the argparse declaration
                out.append(f"{path.name}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_no_function_is_longer_than_80_lines():
    found = [f for p in sorted(SRC.rglob("*.py")) for f in long_functions(p)]
    assert not found, found


def test_the_engine_imports_no_concrete_model():
    """The loop, the step, gradient checking, the callbacks and the benchmark see a model only
    through xpnet.model.Model."""
    files = [SRC / f"{name}.py" for name in ("train", "evaluation", "checkpoints", "stopping",
                                             "step", "gradcheck", "bench", "io")]
    files += sorted((SRC / "callbacks").glob("*.py"))
    for path in files:
        assert "xpnet.network" not in imports(path), f"{path.name} imports xpnet.network"


def test_no_module_holds_more_than_450_lines():
    """One idea to a module: the backends, the command line and the scikit-learn estimators are
    packages with a module per idea, and no module grows past 450 lines."""
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450}
    assert not long, long
