"""kanlab's module import graph, built from the source (AST), has no cycle.

Top-level imports are what Python executes when a module is imported, so a cycle among them
can break import order. The whole graph is acyclic too: every import statement (deferred,
function-level ones included; ``if TYPE_CHECKING:`` blocks excepted), every
``importlib.import_module("kanlab...")`` with a literal name, every ``"kanlab.module:attr"``
string (the catalog's entries, the CLI's command table) and the package-level dynamic imports
(``import_submodules`` in a package ``__init__``, the lazy subpackages of ``kanlab``). And
loading a config must not reach the Lightning side.
"""

from __future__ import annotations

import ast
import re
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


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (never executed)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


_TARGET = re.compile(r"(kanlab(?:\.\w+)+):[\w.]+")  # "kanlab.module:attr"


def _string_imports(name: str, tree: ast.AST) -> set[str]:
    """Modules ``name`` imports by string: ``import_module("...")`` literals and
    ``"kanlab.module:attr"`` targets (imported when the entry or command is used)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module"):
            if node.args and isinstance(node.args[0], ast.Constant):
                out.add(str(node.args[0].value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _TARGET.fullmatch(node.value)
            if match:
                out.add(match.group(1))
    return {m for m in out if m in MODULES and m != name}


def _dynamic_imports(name: str, tree: ast.Module) -> set[str]:
    """A package ``__init__`` calling ``import_submodules`` imports each public submodule;
    ``kanlab.__getattr__`` imports the subpackages listed in ``_SUBPACKAGES``."""
    out: set[str] = set()
    if MODULES[name].name != "__init__.py":
        return out
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    if "import_submodules" in calls:
        out |= {m for m in MODULES if m.rpartition(".")[0] == name
                and not m.rpartition(".")[2].startswith("_")}
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "_SUBPACKAGES":
            out |= {f"{name}.{c.value}" for c in ast.walk(node.value)
                    if isinstance(c, ast.Constant) and f"{name}.{c.value}" in MODULES}
    return out


def _graph(*, deferred: bool, strings: bool = False) -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        if deferred:
            skip = _type_checking_only(tree)
            nodes: Iterable[ast.AST] = [n for n in ast.walk(tree) if id(n) not in skip]
        else:
            nodes = tree.body
        graph[name] = _imports(name, nodes)
        if strings:
            graph[name] |= _string_imports(name, tree) | _dynamic_imports(name, tree)
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


def test_the_whole_graph_is_acyclic_string_imports_included() -> None:
    assert _cycles(_graph(deferred=True, strings=True)) == []


def test_string_imports_are_seen() -> None:
    graph = _graph(deferred=True, strings=True)
    assert "kanlab.layers.kan.s_kan" in graph["kanlab.catalog"]  # a catalog line
    assert "kanlab._signatures" in graph["kanlab.catalog"]  # a `params` target
    assert "kanlab.lit.cli" in graph["kanlab.cli"]  # the command table
    assert "kanlab.layers" in graph["kanlab"]  # a lazy subpackage
    assert "kanlab.models.kan_mlp" in graph["kanlab.models"]  # import_submodules
    # ... and a string import back would close a cycle the test sees
    looped = {**graph, "kanlab.registry": graph["kanlab.registry"] | {"kanlab.catalog"}}
    assert any("kanlab.catalog" in c for c in _cycles(looped))


def test_config_loading_never_reaches_the_lightning_side() -> None:
    """Deferred and string imports included: validating a config never leads to lit or data."""
    reached = _closure(_graph(deferred=True, strings=True), "kanlab.config")
    heavy = sorted(m for m in reached if m.startswith(("kanlab.lit", "kanlab.data")))
    assert heavy == []
