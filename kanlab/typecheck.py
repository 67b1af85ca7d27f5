"""Reading config annotations: registry markers, constructor signatures and the type checker.

:func:`drawn_registry` finds the :class:`~kanlab.registry.Draws` marker in an annotation (the
registry a value's specs come from); :func:`signature_of` reads what a registered class or
factory accepts (keyword parameters, ``**kwargs``, type hints); :func:`check_type` checks one
config value against its annotation and names its dotted path in every error
(``"`optim.lr` must be a number, but got optim.lr='fast'."``). :mod:`kanlab.config` builds the
frozen experiment dataclasses on top of these; its public names stay importable from there.

Why a hand-written checker, not pydantic: pydantic is not a kanlab dependency (it is not
installed in the project's environment), and adopting it would remove little. The checker is
~70 lines over the annotation forms configs use (``Literal``, unions, tuples, mappings,
scalars); what it enforces that pydantic's lax mode does not is the house contract: no
bool-for-int, ints widened to float, YAML 1.1 exponent strings (``1e-3``) read as floats,
``Literal`` misses answered with "did you mean", and one error message in Optuna's wording
naming the dotted path. Pydantic's strict mode refuses int-for-float and its lax mode accepts
``"3"`` for an int, so either way every error would be re-worded from its ``loc`` tuples, the
``Draws``/``KwargsOf`` markers (registry lookups, nested specs) would still need custom
validators, and ``kanlab list``/config loading would pay pydantic's import on the light path.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from kanlab.errors import ConfigError
from kanlab.registry import Draws, Entry, KwargsOf, Registry, suggest

__all__ = ["Signature", "check_type", "drawn_registry", "kwargs_of", "signature_of"]


def _markers(tp: Any, kind: type) -> list[Any]:
    """Markers of type ``kind`` in ``Annotated`` metadata anywhere inside annotation ``tp``."""
    if typing.get_origin(tp) is Annotated:
        own = [m for m in tp.__metadata__ if isinstance(m, kind)]
        return own or _markers(typing.get_args(tp)[0], kind)
    found: list[Any] = []
    for arg in typing.get_args(tp):
        found += _markers(arg, kind)
    return found


def drawn_registry(tp: Any) -> Registry[Any] | None:
    """The registry an annotation declares with :class:`~kanlab.registry.Draws` (or ``None``).

    The marker may sit inside ``Optional``/``Sequence``/``tuple`` (a list of specs).
    """
    markers = _markers(tp, Draws)
    return markers[0].registry if markers else None


def kwargs_of(tp: Any) -> KwargsOf | None:
    markers = _markers(tp, KwargsOf)
    return markers[0] if markers else None


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " or ".join(repr(c) for c in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def check_type(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it (ints widened to float)."""
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return check_type(value, typing.get_args(tp)[0], path)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            with contextlib.suppress(ConfigError):  # the next alternative may fit
                return check_type(value, arg, path)
        allowed = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"`{path}` must be {allowed}, but got {path}={value!r}.")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            hint = suggest(str(value), [str(c) for c in choices])
            raise ConfigError(
                f"`{path}` must be one of {list(choices)}, but got {path}={value!r}.{hint}"
            )
        return value
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"`{path}` must be a list, but got {path}={value!r}.")
        args = typing.get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise ConfigError(
                    f"`{path}` must have {len(args)} items, but got {path}={list(value)!r}."
                )
            item_types = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        return tuple(
            check_type(v, t, f"{path}.{i}")
            for i, (v, t) in enumerate(zip(value, item_types, strict=True))
        )
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"`{path}` must be a mapping, but got {path}={value!r}.")
        return value
    if tp is float:
        if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"`{path}` must be a number, but got {path}={value!r}.")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"`{path}` must be an integer, but got {path}={value!r}.")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"`{path}` must be true or false, but got {path}={value!r}.")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"`{path}` must be a string, but got {path}={value!r}.")
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"`{path}` must be null, but got {path}={value!r}.")
        return None
    return value  # classes, callables, tensors...: left to the constructor


@dataclass(frozen=True)
class Signature:
    """What a registered target accepts: keyword parameters, ``**kwargs``, type hints."""

    owner: str
    params: Mapping[str, inspect.Parameter]
    var_kw: bool
    hints: Mapping[str, Any]


def _read(owner: str, sig: inspect.Signature, hints: Mapping[str, Any]) -> Signature:
    params = {}
    var_kw = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
            params[p.name] = p
    return Signature(owner, params, var_kw, hints)


def signature_of(target: Callable[..., Any] | Entry[Any]) -> Signature:
    """The keyword parameters of a class/factory (or registry entry) and their type hints.

    An entry whose catalog line names ``params`` (a data module or callback: a Lightning
    class) is read from that Lightning-free function instead, so validating a config imports
    no Lightning.
    """
    if isinstance(target, Entry):
        params = target.meta.get("params")
        if isinstance(params, str) and not target.loaded:
            owner = target.source.rpartition(":")[2]
            module, _, attr = params.partition(":")
            light = getattr(importlib.import_module(module), attr)
            hints = typing.get_type_hints(light, include_extras=True)
            return _read(owner, inspect.signature(light), hints)
        target = target.target
    owner = str(getattr(target, "__name__", target))
    func = target.__init__ if inspect.isclass(target) else target
    try:
        signature = inspect.signature(target)  # a class without __init__ takes nothing
    except (TypeError, ValueError):
        return Signature(owner, {}, True, {})
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable annotations (third-party classes): no type checks
        hints = {}
    return _read(owner, signature, hints)


