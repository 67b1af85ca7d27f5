"""``reproduce.yaml``: a results directory's manifest, read and checked in one place.

A results directory (``results/<benchmark>/``) names its configurations in a small manifest —
experiment YAMLs under ``experiments/`` plus ``--set`` overrides, and the seeds — never copies
of the YAMLs, and optionally how its table is made::

    seeds: [0, 1, 2, 3, 4]                      # default seeds of every run
    overrides: [trainer.max_epochs=25]          # applied to every run, before its own
    runs:
      - {experiment: experiments/fashion_mnist/mlp.yaml, overrides: [name=mlp]}
      - {experiment: experiments/fashion_mnist/s_kan.yaml, overrides: [name=s_kan],
         seeds: [0, 1]}
    leaderboard: {baseline: mlp}                # optional: how the table is made

Experiment paths are relative to the current directory or, failing that, to a parent of the
manifest's directory (the repository root). :func:`read_manifest` (for ``kanlab reproduce``
and ``--verify``) checks all of it; :func:`table_options` (for ``kanlab leaderboard``, which
also runs where only the results were copied) checks only the ``leaderboard:`` options, with
the same rules and messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kanlab.errors import ConfigError
from kanlab.registry import suggest

__all__ = ["MANIFEST", "Manifest", "ManifestRun", "TABLE_KEYS", "read_manifest",
           "table_options"]

MANIFEST = "reproduce.yaml"
TABLE_KEYS = ("baseline", "split_by", "equivalence_margin")  # a manifest's `leaderboard:` options
_TOP_KEYS = ("seeds", "overrides", "runs", "leaderboard")
_RUN_KEYS = ("experiment", "overrides", "seeds")


@dataclass(frozen=True)
class ManifestRun:
    """One configuration: an experiment YAML, its overrides and seeds."""

    experiment: Path
    overrides: tuple[str, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Manifest:
    """The parsed ``reproduce.yaml`` of a results directory: its runs and its table options
    (:func:`table_options`)."""

    path: Path
    runs: tuple[ManifestRun, ...]
    leaderboard: Mapping[str, Any] = field(default_factory=dict)


def _load(path: Path) -> Any:
    """The YAML document at ``path`` (``None`` when there is no such file)."""
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def read_manifest(bench_dir: str | Path) -> Manifest:
    """Parse and check ``<bench_dir>/reproduce.yaml``.

    Raises:
        ConfigError: for a missing manifest, an unknown key, bad seeds or overrides, an
            experiment file that does not exist, or bad ``leaderboard:`` options.
    """
    path = Path(bench_dir) / MANIFEST
    if not path.is_file():
        raise ConfigError(
            f"`DIR` must hold a {MANIFEST} manifest, but got DIR={str(bench_dir)!r}."
        )
    data = _load(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping, but got {type(data).__name__}.")
    _check_keys(data, _TOP_KEYS, str(path))
    options = _table_options(data, path)  # the `leaderboard:` options the table is made with
    default_seeds = _seeds(data["seeds"], "seeds") if "seeds" in data else None
    common = _strings(data.get("overrides"), "overrides")
    items = data.get("runs")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"`runs` must be a non-empty list in {path}, but got {items!r}.")
    runs = tuple(_run(item, f"runs.{i}", path, default_seeds, common)
                 for i, item in enumerate(items))
    return Manifest(path=path, runs=runs, leaderboard=options)


def _run(item: Any, where: str, path: Path, default_seeds: tuple[int, ...] | None,
         common: tuple[str, ...]) -> ManifestRun:
    """One entry of ``runs:``, checked; ``common`` overrides go before its own."""
    if not isinstance(item, dict) or "experiment" not in item:
        raise ConfigError(f"`{where}` must be a mapping with `experiment`, but got {item!r}.")
    _check_keys(item, _RUN_KEYS, where)
    if "seeds" in item:
        seeds = _seeds(item["seeds"], f"{where}.seeds")
    elif default_seeds is not None:
        seeds = default_seeds
    else:
        raise ConfigError(f"`{where}.seeds` must be given (no top-level `seeds`).")
    return ManifestRun(
        experiment=_find(str(item["experiment"]), path, f"{where}.experiment"),
        overrides=common + _strings(item.get("overrides"), f"{where}.overrides"),
        seeds=seeds,
    )


def table_options(bench: Path) -> dict[str, Any]:
    """The ``leaderboard:`` options of ``bench/reproduce.yaml`` (``{}`` without one).

    A results directory whose table needs a baseline or a split names them there, so that
    ``kanlab leaderboard DIR`` and ``kanlab reproduce DIR`` regenerate the same table::

        leaderboard: {split_by: model.arch, baseline: "vit_gelu,resnet_relu"}
        leaderboard: {equivalence_margin: 0.5}   # TOST margin, primary metric's units

    Only these options are checked here, so a table regenerates where the experiment YAMLs
    are absent; :func:`read_manifest` checks the whole manifest.

    Raises:
        ConfigError: for an unknown option, a ``baseline`` / ``split_by`` that is not a
            non-empty string or an ``equivalence_margin`` that is not a number > 0.
    """
    path = bench / MANIFEST
    return _table_options(_load(path), path)


def _table_options(data: Any, path: Path) -> dict[str, Any]:
    options = data.get("leaderboard") if isinstance(data, Mapping) else None
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"`leaderboard` in {path} must be a mapping of "
                          f"{', '.join(TABLE_KEYS)}, but got {options!r}.")
    for key, value in options.items():
        if key not in TABLE_KEYS:
            raise ConfigError(f"`leaderboard` keys in {path} must be among "
                              f"{', '.join(TABLE_KEYS)}, but got {key!r}."
                              f"{suggest(str(key), TABLE_KEYS)}")
        if key == "equivalence_margin":
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not value > 0):
                raise ConfigError(f"`leaderboard.equivalence_margin` in {path} must be a "
                                  f"number > 0, but got {value!r}.")
        elif not isinstance(value, str) or not value.strip():
            raise ConfigError(f"`leaderboard.{key}` in {path} must be a non-empty string, "
                              f"but got {value!r}.")
    return {str(k): (float(v) if k == "equivalence_margin" else str(v))
            for k, v in options.items()}


def _check_keys(data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(
                f"`{where}` keys must be among {', '.join(allowed)}, but got {key!r}."
                f"{suggest(str(key), list(allowed))}"
            )


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in value)):
        raise ConfigError(f"`{where}` must be a non-empty list of integers, but got {value!r}.")
    return tuple(dict.fromkeys(value))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) and "=" in s for s in value):
        raise ConfigError(
            f"`{where}` must be a list of KEY=VALUE overrides, but got {value!r}."
        )
    return tuple(value)


def _find(experiment: str, manifest: Path, where: str) -> Path:
    path = Path(experiment)
    candidates = [path] if path.is_absolute() else [
        Path.cwd() / path, *(parent / path for parent in manifest.resolve().parents)
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"`{where}` must be an experiment YAML file, but got {experiment!r}.")
