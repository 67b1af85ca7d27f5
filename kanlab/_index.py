"""The light registry index: what ``kanlab list``/``info`` show, without importing anything.

``kanlab list`` and ``kanlab info`` read :data:`kanlab._index_data.INDEX`, a generated literal,
so they answer without importing torch, Lightning or Optuna (``info`` imports the entry only
when it computes something: EAFO's derived formula, or checking ``--set`` values). The index
is generated from the real registries (``python -m kanlab._index`` rewrites it) and
``tests/test_index.py`` fails, naming that command, whenever it no longer matches them.

Each entry is a dict: ``name``, ``summary``, ``meta`` (the ``k=v`` text of its plain metadata),
``target`` (``module:qualname``), ``doc`` (the docstring of kanlab's own classes), ``hparams``
(``(name, type, default)`` rows of its signature) and ``extra`` (it has an ``info_extra``).
"""

from __future__ import annotations

import importlib
import inspect
import pprint
import re
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kanlab.registry import Entry, Registry

__all__ = [
    "REGISTRIES", "build_index", "hparam_rows", "meta_text", "registry", "write_index",
]

# Every registry by plural name -> "module:attribute" (the order `kanlab list` prints).
REGISTRIES: dict[str, str] = {
    "layers": "kanlab.registry:LAYERS",
    "activations": "kanlab.registry:ACTIVATIONS",
    "models": "kanlab.registry:MODELS",
    "datamodules": "kanlab.registry:DATAMODULES",
    "optimizers": "kanlab.registry:OPTIMIZERS",
    "schedulers": "kanlab.registry:SCHEDULERS",
    "callbacks": "kanlab.registry:CALLBACKS",
    "samplers": "kanlab.search.samplers:SAMPLERS",
    "pruners": "kanlab.search.pruners:PRUNERS",
}

_PLAIN = (str, bool, int, float, type(None))


def registry(kind: str) -> Registry[Any]:
    """The real registry of ``kind`` (imports its module; the lookups fill it)."""
    module, attr = REGISTRIES[kind].split(":")
    reg = getattr(importlib.import_module(module), attr)
    if not isinstance(reg, Registry):
        raise TypeError(f"{REGISTRIES[kind]} is not a Registry.")
    return reg


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, _PLAIN)


def meta_text(meta: Mapping[str, Any]) -> str:
    """``k=v, …`` of an entry's plain metadata (the summary and wiring are shown elsewhere)."""
    shown = {k: v for k, v in meta.items() if k not in ("summary", "wiring") and _plain(v)}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))


def _stable(text: str) -> str:
    """``repr`` without memory addresses (a default that is a function)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def hparam_rows(target: Any) -> tuple[tuple[str, str, str], ...]:
    """``(name, type, default)`` of each keyword a class or factory takes (not self/*args)."""
    func = target.__init__ if inspect.isclass(target) else target
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return ()
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: show the raw ones
        hints = {}
    rows = []
    for p in sig.parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        tp = hints.get(p.name, p.annotation)
        if isinstance(tp, type):
            tp_text = tp.__name__
        else:
            tp_text = "" if tp is inspect.Parameter.empty else str(tp).replace("typing.", "")
        default = "(required)" if p.default is p.empty else repr(p.default)
        rows.append((p.name, _stable(tp_text), _stable(default)))
    return tuple(rows)


def _row(entry: Entry[Any]) -> dict[str, Any]:
    target = entry.target
    qualname = getattr(target, "__qualname__", type(target).__qualname__)
    return {
        "name": entry.name,
        "summary": entry.summary,
        "meta": meta_text(entry.meta),
        "target": f"{target.__module__}:{qualname}",
        # third-party classes (torch optimisers, Optuna samplers) are documented upstream
        "doc": (inspect.getdoc(target) or "") if target.__module__.startswith("kanlab") else "",
        "hparams": hparam_rows(target),
        "extra": callable(getattr(target, "info_extra", None)),
    }


def build_index() -> dict[str, tuple[dict[str, Any], ...]]:
    """The index of the real registries (imports every registering module)."""
    return {kind: tuple(_row(e) for e in registry(kind).entries()) for kind in REGISTRIES}


def write_index(path: Path | None = None) -> Path:
    """Regenerate ``kanlab/_index_data.py`` from the registries."""
    path = path or Path(__file__).with_name("_index_data.py")
    body = pprint.pformat(build_index(), width=99, sort_dicts=False)
    path.write_text(
        '"""Generated by ``python -m kanlab._index``: do not edit (tests/test_index.py checks '
        'it)."""\n\n'
        "from typing import Any\n\n"
        "INDEX: dict[str, tuple[dict[str, Any], ...]] = "
        f"{body}\n"
    )
    return path


if __name__ == "__main__":
    print(f"wrote {write_index()}")
    sys.exit(0)
