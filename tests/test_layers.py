"""The import rules of the package: a module may import its own layer and the layers below it, never
one above; the modules imported at load time form no cycle. LAYERS is the one table of the layers
(docs/design.md shows the same table; `test_design_page_shows_this_table` keeps them equal)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "reasonrl"

# lowest first; a module belongs to the layer of its longest matching prefix ("reasonrl" itself, the
# package's __init__ with __version__, matches only itself)
LAYERS = {
    "ground": ("reasonrl", "reasonrl.errors", "reasonrl.types"),
    "math": ("reasonrl.algo",),
    "base": ("reasonrl.config", "reasonrl.templates", "reasonrl.verifiers.settings", "reasonrl.dist",
             "reasonrl.safeio", "reasonrl.runlock", "reasonrl.models", "reasonrl.scale", "reasonrl.checkpoint",
             "reasonrl.logging"),
    "parts": ("reasonrl.data", "reasonrl.verifiers", "reasonrl.tasks", "reasonrl.rollout"),
    "services": ("reasonrl.eval", "reasonrl.report", "reasonrl.serve"),
    "train": ("reasonrl.train",),
    "pipeline": ("reasonrl.pipeline",),
    "entry": ("reasonrl.cli", "reasonrl.__main__"),
}
RANK = {name: i for i, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def layer_of(module: str) -> str:
    best = max(((len(prefix), name) for name, prefixes in LAYERS.items() for prefix in prefixes
                if module == prefix or (prefix != "reasonrl" and module.startswith(prefix + "."))), default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS (tests/test_layers.py, docs/design.md)"
    return best[1]


def imports(module: str, *, load_time_only: bool = False) -> set[str]:
    """The package modules that `module` imports (anywhere in it, or only at module level)."""
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if load_time_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "reasonrl"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "reasonrl":
            for a in node.names:      # `from reasonrl import dist` imports the module reasonrl.dist
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in MODULES else node.module)
    return out - {module}


def test_every_module_has_a_layer():
    for m in MODULES:
        layer_of(m)


def test_no_layer_imports_a_higher_one():
    bad = [f"{m} ({layer_of(m)}) imports {d} ({layer_of(d)})"
           for m in sorted(MODULES) for d in sorted(imports(m)) if d in MODULES and RANK[layer_of(d)] > RANK[layer_of(m)]]
    assert not bad, "lower layer imports a higher one:\n" + "\n".join(bad)


def test_algo_imports_only_errors_and_types():
    for m in (m for m in MODULES if layer_of(m) == "math"):
        assert {d for d in imports(m) if layer_of(d) != "math"} <= {"reasonrl.errors", "reasonrl.types"}, m


def test_nothing_imports_the_command_line():
    assert not [m for m in MODULES if "reasonrl.cli" in imports(m) and m != "reasonrl.__main__"]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}       # 1 = on the path, 2 = done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_at_load_time():
    # a submodule importing its own package is no cycle (the package is already being imported)
    graph = {m: {d for d in imports(m, load_time_only=True) if d in MODULES and not m.startswith(d + ".")}
             for m in MODULES}
    found = _cycle(graph)
    assert found is None, "import cycle: " + " -> ".join(found)


def design_table() -> str:
    """The table as docs/design.md shows it."""
    rows = ["| layer | modules |", "|---|---|"]
    rows += [f"| {name} | {', '.join(f'`{p}`' for p in prefixes)} |" for name, prefixes in LAYERS.items()]
    return "\n".join(rows)


def test_design_page_shows_this_table():
    page = ROOT / "docs" / "design.md"
    if not page.exists():
        pytest.skip("docs/design.md not present")
    assert design_table() in page.read_text(), "docs/design.md's layer table differs from LAYERS:\n" + design_table()
