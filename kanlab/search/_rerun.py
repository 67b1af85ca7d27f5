"""The ``kanlab train`` command that reproduces a trial, built so that it runs as printed.

A trial's config is the base experiment with the study's ``fixed`` values, the command line's
``--set`` overrides and the drawn values applied — and a drawn ``<spec>.name`` drops the base
keys the new component does not accept (:func:`kanlab.search._space.apply_values`). Replaying
those steps as ``--set`` items would not give the same config (``kanlab train`` keeps every
base key, so ``model.layer.spline_order`` of a B-spline base reaches ``fast_kan``), and could
set one key twice. So the command is derived from the *result* instead: the difference between
the base YAML (as ``kanlab train`` reads it) and the trial's config, one ``--set`` per changed
leaf, and the whole node where a component changed or lost keys.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kanlab.config import read_yaml
from kanlab.search._space import format_value

__all__ = ["config_overrides", "rerun_command"]


def config_overrides(base: Any, target: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` pairs that turn ``base`` into ``target`` via ``--set``.

    Mappings are compared key by key; a mapping whose ``name`` changed or that lost keys is
    replaced whole (``model.layer={name: fast_kan, grid_size: 5}``); lists and scalars are
    set whole when they differ.
    """
    if isinstance(base, Mapping) and isinstance(target, Mapping) and path:
        same_component = base.get("name") == target.get("name")
        if not same_component or set(base) - set(target):
            yield path, dict(target)
            return
    if isinstance(base, Mapping) and isinstance(target, Mapping):
        if not path and set(base) - set(target):
            for key in sorted(set(base) - set(target)):
                yield key, None
        for key, value in target.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in base and isinstance(value, Mapping) and value:
                yield from config_overrides({}, value, sub)  # optim.lr=0.01, not optim={...}
            elif key not in base:
                yield sub, value
            elif base[key] != value:
                yield from config_overrides(base[key], value, sub)
        return
    if base != target:
        yield path, target


def _base_for_cli(base_path: Path) -> Mapping[str, Any]:
    """The base experiment exactly as ``kanlab train BASE.yaml`` reads it (read once per
    file version, not once per trial; callers only read it)."""
    stat = base_path.stat()
    return _read_base(base_path.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_base(path: Path, mtime_ns: int, size: int) -> Mapping[str, Any]:
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    return raw


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def rerun_command(base: Path | Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """``kanlab train BASE --set ...`` whose resolved config equals ``config``.

    ``base`` is the study's base experiment: its YAML file, or the inline mapping of the study
    YAML — then the command names ``<base.yaml>``, that mapping written to a file. ``seed`` is
    always given.
    """
    if isinstance(base, Path):
        start = _base_for_cli(base)
        shown = _shown_path(base)
    else:
        start = dict(base)
        shown = "<base.yaml>"
    sets = [(k, v) for k, v in config_overrides(start, config) if k != "seed"]
    sets.append(("seed", config.get("seed", 0)))
    items = [f"{key}={format_value(value)}" for key, value in sets]
    return " ".join(["kanlab", "train", shlex.quote(shown), "--set", *map(shlex.quote, items)])
