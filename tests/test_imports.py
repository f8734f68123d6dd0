"""Data flows one way: no import cycle among lsbench's modules, and the reports never import the harness.

The graph holds every ``import`` and ``from ... import`` of a module, those inside functions
included (a lazy import is still a dependency), read with ``ast``. Importing ``a.b.c`` also
imports the packages ``a.b`` (its ``__init__``), so an edge to a submodule implies an edge to
each package above it, except the importer's own packages (Python initialises those before the
importer runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_files(root: Path, package: str = "lsbench") -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package`` under ``root``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported(module: str, is_package: bool, node: ast.AST) -> list[str]:
    """Dotted names an import statement may load (the module, and ``module.name`` for ``from`` imports)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        return [target] + [f"{target}.{a.name}" for a in node.names]
    return []


def import_graph(root: Path, package: str = "lsbench") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (anywhere in its code), with implied packages."""
    files = module_files(root, package)
    edges: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for name in _imported(module, is_package, node):
                if name not in files:
                    continue
                parts = name.split(".")
                for target in [name] + [".".join(parts[:i]) for i in range(2, len(parts))]:
                    if target != module and not module.startswith(target + "."):
                        edges[module].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT)


def test_no_import_cycle_among_lsbench_modules(graph):
    assert len(graph) > 50  # the whole package was read
    assert cycles(graph) == []


def test_reports_never_import_the_harness(graph):
    upward = sorted((m, t) for m, targets in graph.items() if m.startswith("lsbench.reports")
                    for t in targets if t == "lsbench.harness" or t.startswith("lsbench.harness."))
    assert upward == []
    assert "lsbench.rundir" in graph["lsbench.reports.build"]  # they read the run directory through rundir


def test_learned_segmenters_import_the_protocol_not_the_registrations(graph):
    for module in ("lsbench.learned.segmenter", "lsbench.crls.segmenter"):
        reached, todo = set(), [module]
        while todo:  # everything the module imports, directly or through others
            for dep in graph[todo.pop()] - reached:
                reached.add(dep)
                todo.append(dep)
        assert "lsbench.segmenter" in reached and "lsbench.methods" not in reached


def test_the_checker_finds_cycles_through_lazy_imports_and_packages(tmp_path):
    pkg = tmp_path / "lsbench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from lsbench.sub.b import thing\n")
    (pkg / "sub" / "b.py").write_text("thing = 1\n")
    (pkg / "a.py").write_text("def f():\n    from lsbench.sub import b\n")
    (pkg / "c.py").write_text("from . import a\n")
    edges = import_graph(tmp_path)
    assert edges["lsbench.a"] == {"lsbench.sub", "lsbench.sub.b"} and edges["lsbench.c"] == {"lsbench.a"}
    assert cycles(edges) == []
    (pkg / "sub" / "b.py").write_text("import lsbench.c\n")  # b -> c -> a -> (inside f) sub.b
    assert cycles(import_graph(tmp_path)) == [["lsbench.a", "lsbench.c", "lsbench.sub", "lsbench.sub.b"]]
