"""kanlab's module import graph, built from the source (AST), has no cycle.

Top-level imports are what Python executes when a module is imported, so a cycle among them
can break import order; the deferred (function-level) imports are checked for the one circle
that used to exist: loading a config must not reach the Lightning side (config -> components
-> lit -> train -> config).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "kanlab"


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, nodes: Iterable[ast.AST]) -> set[str]:
    """kanlab modules imported by ``nodes`` of module ``name`` (``from a import b``: ``a.b``
    when that is a module, else ``a``)."""
    is_package = MODULES[name].name == "__init__.py"
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.add(sub if sub in MODULES else module)
    return {m for m in out if m in MODULES and m != name}


def _graph(*, deferred: bool) -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        graph[name] = _imports(name, ast.walk(tree) if deferred else tree.body)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(graph[v])
    return seen


def test_graph_sees_the_package() -> None:
    graph = _graph(deferred=False)
    assert len(graph) > 80
    assert "kanlab.registry" in graph["kanlab.config"]
    assert "kanlab.checks" in graph["kanlab.models.kan_convnet"]


def test_top_level_imports_are_acyclic() -> None:
    assert _cycles(_graph(deferred=False)) == []


def test_cycle_detection_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_config_loading_never_reaches_the_lightning_side() -> None:
    """Deferred imports included: config -> components no longer leads to lit or data."""
    reached = _closure(_graph(deferred=True), "kanlab.config")
    heavy = sorted(m for m in reached if m.startswith(("kanlab.lit", "kanlab.data")))
    assert heavy == []
