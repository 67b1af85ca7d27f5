"""Registry entries and constructor signatures read from source, without importing it.

Data modules and training callbacks are Lightning classes; importing them imports Lightning.
Loading and validating a config needs only their keys, metadata and constructor signatures,
so :func:`register_lazily` reads the ``@REGISTRY.register("key", **meta)`` decorators of a
package's public modules from their syntax trees and adds lazy entries
(:meth:`kanlab.registry.Registry.add_lazy`), and :func:`read_signature` reads a class's
``__init__`` signature the same way (following its first base through ``from x import y``
imports inside kanlab when the class does not define ``__init__``).

Limits: decorator metadata must be literals; annotations are evaluated against ``typing``,
``collections.abc``, ``pathlib`` and the builtins (an unknown name reads as ``Any``: no type
check); a class whose ``__init__`` is inherited from outside kanlab cannot be read (``None``:
the caller imports it instead). ``tests/test_lazy.py`` checks every lazy entry's signature
against the imported class.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import functools
import inspect
import pathlib
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kanlab.registry import Registry

__all__ = ["read_signature", "register_lazily"]

_ROOT = Path(__file__).resolve().parent  # the kanlab package directory


def _module_file(module: str) -> Path | None:
    """Source file of a kanlab module, found without importing it or its package."""
    parts = module.split(".")
    if parts[0] != "kanlab":
        return None
    base = _ROOT.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _registrations(tree: ast.Module, registry_name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(key, class name, meta)`` of each ``@<registry_name>.register(...)`` class."""
    out = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for deco in node.decorator_list:
            if not (
                isinstance(deco, ast.Call)
                and isinstance(deco.func, ast.Attribute)
                and deco.func.attr == "register"
                and isinstance(deco.func.value, ast.Name)
                and deco.func.value.id == registry_name
                and deco.args
                and isinstance(deco.args[0], ast.Constant)
                and isinstance(deco.args[0].value, str)
            ):
                continue
            try:
                meta = {k.arg: ast.literal_eval(k.value) for k in deco.keywords if k.arg}
            except ValueError:
                continue  # non-literal metadata: the module must be imported to register it
            doc = ast.get_docstring(node) or ""
            if "summary" not in meta and doc.strip():
                meta["summary"] = doc.strip().splitlines()[0].strip()
            out.append((deco.args[0].value, node.name, meta))
    return out


def register_lazily(registry: Registry[Any], registry_name: str, package: str) -> None:
    """Add a lazy entry for every ``@<registry_name>.register`` class in ``package``.

    Public (non-underscore) modules only, as :func:`kanlab._imports.import_submodules`
    imports them; entries already registered (their module imported) are left alone.
    """
    init = _module_file(package)
    if init is None or init.name != "__init__.py":
        raise ValueError(f"`package` must be a kanlab package, but got package={package!r}.")
    for path in sorted(init.parent.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = f"{package}.{path.stem}"
        for key, cls, meta in _registrations(_tree(path), registry_name):
            registry.add_lazy(key, f"{module}:{cls}", **meta)


# --------------------------------------------------------------------------- signatures

_NAMESPACE: dict[str, Any] = {
    **vars(builtins),
    **{k: v for k, v in vars(collections.abc).items() if not k.startswith("_")},
    **{k: v for k, v in vars(typing).items() if not k.startswith("_")},
    "Path": pathlib.Path,
}


def _annotation(node: ast.expr | None) -> Any:
    if node is None:
        return inspect.Parameter.empty
    text = ast.unparse(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    try:
        return eval(text, dict(_NAMESPACE))  # noqa: S307 (kanlab's own annotations)
    except Exception:
        return Any


def _default(node: ast.expr | None) -> Any:
    if node is None:
        return inspect.Parameter.empty
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _Unreadable(ast.unparse(node))


class _Unreadable:
    """A default value that is not a literal (shown as its source text)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _function_signature(fn: ast.FunctionDef) -> inspect.Signature:
    a = fn.args
    P = inspect.Parameter
    params: list[inspect.Parameter] = []
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = P.POSITIONAL_ONLY if i < len(a.posonlyargs) else P.POSITIONAL_OR_KEYWORD
        params.append(P(arg.arg, kind, default=_default(default),
                        annotation=_annotation(arg.annotation)))
    if a.vararg is not None:
        params.append(
            P(a.vararg.arg, P.VAR_POSITIONAL, annotation=_annotation(a.vararg.annotation))
        )
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        params.append(P(arg.arg, P.KEYWORD_ONLY, default=_default(default),
                        annotation=_annotation(arg.annotation)))
    if a.kwarg is not None:
        params.append(P(a.kwarg.arg, P.VAR_KEYWORD, annotation=_annotation(a.kwarg.annotation)))
    return inspect.Signature(params[1:])  # drop self


def _imported(tree: ast.Module, module: str, name: str) -> str | None:
    """``module:attr`` that ``name`` refers to in ``module`` (a class or a from-import)."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return f"{module}:{name}"
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return f"{node.module}:{alias.name}"
    return None


def read_signature(source: str) -> inspect.Signature | None:
    """The ``__init__`` signature (without ``self``) of ``"kanlab.module:Class"``, or ``None``.

    ``None`` means it cannot be read from source (class not found, or ``__init__`` inherited
    from outside kanlab); the caller then imports the class.
    """
    module, _, name = source.partition(":")
    for _ in range(16):  # inheritance depth
        path = _module_file(module)
        if path is None or "." in name:
            return None
        tree = _tree(path)
        cls = next(
            (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None
        )
        if cls is None:
            target = _imported(tree, module, name)
            if target is None or target == f"{module}:{name}":
                return None
            module, _, name = target.partition(":")
            continue
        init = next(
            (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
            None,
        )
        if init is not None:
            return _function_signature(init)
        if not cls.bases or not isinstance(cls.bases[0], ast.Name):
            return None  # e.g. pl.Callback: __init__ from outside kanlab
        target = _imported(tree, module, cls.bases[0].id)
        if target is None:
            return None
        module, _, name = target.partition(":")
    return None
