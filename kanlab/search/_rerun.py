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
            if key not in base:
                yield sub, value
            elif base[key] != value:
                yield from config_overrides(base[key], value, sub)
        return
    if base != target:
        yield path, target


def _base_for_cli(base_path: Path) -> dict[str, Any]:
    """The base experiment exactly as ``kanlab train BASE.yaml`` reads it."""
    raw = read_yaml(base_path)
    raw.setdefault("name", base_path.stem)
    return raw


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def rerun_command(base_path: Path | None, config: Mapping[str, Any]) -> str:
    """``kanlab train BASE --set ...`` whose resolved config equals ``config``.

    ``seed`` is always given. Without a base file (an inline base mapping) there is nothing
    to pass to ``kanlab train``; the command then names ``<base.yaml>``, the experiment YAML
    that ``kanlab study export`` writes for the best trial.
    """
    if base_path is None:
        base: dict[str, Any] = {}
        shown = "<base.yaml>"
    else:
        base = _base_for_cli(base_path)
        shown = _shown_path(base_path)
    sets = [(k, v) for k, v in config_overrides(base, config) if k != "seed"]
    sets.append(("seed", config.get("seed", 0)))
    items = [f"{key}={format_value(value)}" for key, value in sets]
    return " ".join(["kanlab", "train", shlex.quote(shown), "--set", *map(shlex.quote, items)])
