"""Experiment configs: YAML -> frozen dataclasses, with dotted-path errors and ``--set`` overrides.

An experiment YAML has the sections ``name``, ``seed``, ``model``, ``data``, ``optim`` and
``trainer``::

    name: fmnist_relu_kan
    seed: 0
    model: {name: kan_mlp, widths: [784, 64, 10], layer: {name: relu_kan, grid_size: 5}}
    data: {name: fashion_mnist, batch_size: 64, val_size: 5000}
    optim: {name: adamw, lr: 1.0e-3, weight_decay: 1.0e-4,
            scheduler: {name: exponential, gamma: 0.8}}
    trainer: {max_epochs: 10}

Every ``{name: ...}`` node is a :class:`Spec`, checked against the signature of the class its
registry holds under that name: an unknown key is an error naming its dotted path and the
closest valid key. Defaults live only in the section dataclasses (:class:`ExperimentConfig`,
:class:`OptimConfig`, :class:`TrainerConfig`) and in the constructors of the registered classes,
never again in the CLI.

Which registry a value draws from is declared where the value is defined: a dataclass field
or constructor parameter annotated ``Annotated[..., Draws(LAYERS)]`` (:mod:`kanlab.registry`
has the aliases ``LayerSpec`` and ``ActivationSpec``). :func:`drawn_registry` reads the
marker; config validation, search spaces and the SAE config all go through it.

Loading a config imports neither Lightning nor Optuna: data modules and callbacks are
validated against the Lightning-free signatures the catalog names for them
(:mod:`kanlab._signatures`).

Validation itself (:class:`Spec`, :func:`from_dict`, :func:`validate_spec`, the ``Draws``
markers, constructor signatures, the type checker that names the dotted path of a bad value)
and the section dataclasses with their checks live in :mod:`kanlab.validation` (its docstring
says why that checker is hand-written rather than pydantic), so that building a config is one
pass in one module; those names stay importable from here. This module holds what surrounds
a load: ``--set`` overrides, files, :func:`load_experiment`, :func:`config_hash`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml

from kanlab.errors import ConfigError, InputError
from kanlab.registry import Registry
from kanlab.validation import (
    SPAWNED_STRATEGIES,
    ExperimentConfig,
    OptimConfig,
    Signature,
    Spec,
    TrainerConfig,
    _plain,
    check_type,
    drawn_registry,
    from_dict,
    kwargs_of,
    signature_of,
    to_dict,
    validate_params,
    validate_spec,
)

__all__ = [
    "ConfigError",
    "SPAWNED_STRATEGIES",
    "ExperimentConfig",
    "OptimConfig",
    "Signature",
    "Spec",
    "TrainerConfig",
    "apply_overrides",
    "check_type",
    "config_errors",
    "config_hash",
    "drawn_registry",
    "from_dict",
    "kwargs_of",
    "load_experiment",
    "parse_overrides",
    "registry_at",
    "signature_of",
    "to_dict",
    "validate_params",
    "validate_spec",
]


def registry_at(
    raw: Mapping[str, Any], parts: Sequence[str], root: type = ExperimentConfig
) -> Registry[Any] | None:
    """The registry of the spec at dotted path ``parts`` of plain config data ``raw``.

    Walks the config dataclasses from ``root`` and then the constructors of the specs found
    on the way (their current ``name`` in ``raw``), reading the ``Draws`` markers: for an
    experiment, ``model`` -> models, ``model.layer`` -> layers (for a ``kan_mlp``),
    ``model.activations.0`` -> activations. ``None`` when the path is not a spec.
    """
    cls: Any = root
    registry: Registry[Any] | None = None
    node: Any = raw
    for part in parts:
        if registry is not None and isinstance(node, (list, tuple)):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                return None
            node = node[int(part)]
            continue
        if registry is not None:
            name = node.get("name") if isinstance(node, Mapping) else node
            if not isinstance(name, str) or name not in registry:
                return None
            tp = signature_of(registry.entry(name)).hints.get(part)
        elif cls is not None:
            tp = typing.get_type_hints(cls, include_extras=True).get(part)
        else:
            return None
        if tp is None:
            return None
        registry = drawn_registry(tp)
        bare = typing.get_args(tp)[0] if typing.get_origin(tp) is Annotated else tp
        cls = bare if registry is None and dataclasses.is_dataclass(bare) else None
        node = node.get(part) if isinstance(node, Mapping) else None
    return registry


@contextlib.contextmanager
def config_errors(path: str) -> Iterator[None]:
    """Constructor checks count as config validation: inside this block, a ``ValueError``
    (a registered class refusing a value, e.g. ``widths: [784, 0]``) becomes a
    :class:`ConfigError` naming the config ``path`` it was built from. Wrap only the building
    of components from a config, before anything runs; errors raised while training stay
    what they are (runtime failures)."""
    try:
        yield
    except InputError:
        raise
    except ValueError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"`{path}`: {message}") from exc


# --------------------------------------------------------------------------- overrides


def parse_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    """``["a.b=1", "c=[1, 2]"]`` -> ``[("a.b", 1), ("c", [1, 2])]``; values are YAML scalars."""
    out = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"`--set` must be KEY=VALUE, but got {item!r}.")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"`--set {item}`: value is not valid YAML ({exc}).") from None
        out.append((key.strip(), value))
    return out


def _unfrozen(value: Any) -> Any:
    """``json.dumps``'s ``default``: a frozen value (spec, read-only mapping) as plain data.

    Called only where one occurs, so copying plain YAML data stays in this module.
    """
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return plain


def apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """Return a deep copy of ``raw`` with each dotted path set; list items by index.

    Paths that do not exist yet are created (validation afterwards rejects unknown keys with
    the dotted path), except list indices, which must exist.
    """
    data: Any = json.loads(json.dumps(raw, default=_unfrozen))  # a deep copy, plain data
    for path, value in overrides:
        node = data
        parts = path.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                    raise ConfigError(
                        f"`{where}` must index a list of {len(node)} items, but got {part!r}."
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    elif isinstance(node[part], str) and parts[i + 1] != "name":
                        node[part] = {"name": node[part]}  # a bare name becomes a spec
                    node = node[part]
            else:
                raise ConfigError(
                    f"`{'.'.join(parts[:i])}` is a value ({node!r}), so `{path}` cannot be set."
                )
    return typing.cast(dict[str, Any], data)


# --------------------------------------------------------------------------- files


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with a clear one-line error for missing or malformed files."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file {str(p)!r} does not exist.")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"Config file {str(p)!r} is not valid YAML{where}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {str(p)!r} must hold a mapping, but got {data!r}.")
    return data


def load_experiment(
    source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Load an experiment from a YAML path or a mapping, apply ``--set`` overrides, validate.

    A file without ``name:`` takes its stem as the name.
    """
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        raw = read_yaml(source)
        raw.setdefault("name", Path(source).stem)
    raw = apply_overrides(raw, parse_overrides(overrides))
    check_finite(raw)
    return from_dict(ExperimentConfig, raw)


def check_finite(raw: Any, path: str = "") -> None:
    """No NaN or infinity anywhere in a config (``optim.lr: .inf`` would train to NaN).

    Raises:
        ConfigError: naming the first non-finite value's dotted path.
    """
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ConfigError(f"`{path}` must be a finite number, but got {path}={raw}.")
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            check_finite(value, f"{path}.{key}" if path else str(key))
    elif isinstance(raw, (list, tuple)):
        for i, value in enumerate(raw):
            check_finite(value, f"{path}.{i}")


def _device_count(devices: Any) -> Any:
    """How many devices Lightning's ``devices`` asks for (``"2,"`` / ``[2]``: one, GPU 2)."""
    if isinstance(devices, bool):
        return devices
    if isinstance(devices, int):
        return devices
    if isinstance(devices, (list, tuple)):
        return len(devices)
    text = str(devices).strip()
    if text.isdigit():
        return int(text)
    if "," in text:
        return len([part for part in text.split(",") if part.strip()])
    return text  # "auto", "-1": machine-dependent


def config_hash(cfg: ExperimentConfig | Mapping[str, Any]) -> str:
    """Hash of the resolved config that groups seeds of one configuration.

    Leaves out what does not change the result: seed, data location, loader workers, the
    accelerator and progress display (``trainer.checkpoint``, ``devices`` and ``strategy``
    count only when not their defaults: they change what is trained and tested). ``cfg`` may
    be the config's :func:`to_dict` already (left unchanged), as a run holds it.
    """
    d = copy.deepcopy(dict(cfg)) if isinstance(cfg, Mapping) else to_dict(cfg)
    d.pop("seed", None)
    d.pop("benchmark", None)
    for key in ("data_dir", "num_workers"):
        d["data"].pop(key, None)
    for key in ("accelerator", "progress_bar", "loggers"):
        d["trainer"].pop(key, None)
    if "devices" in d["trainer"]:  # which device is not the experiment, how many is
        d["trainer"]["devices"] = _device_count(d["trainer"]["devices"])
    if d["trainer"].get("strategy") in SPAWNED_STRATEGIES:  # how ranks start is not either
        d["trainer"]["strategy"] = "ddp"
    # counted only when not the default: without a checkpoint the last epoch is tested; with
    # several devices (or a strategy) the global batch and the evaluation split change
    for key, default in (("checkpoint", True), ("devices", 1), ("strategy", "auto"),
                         ("early_stopping_min_delta", 0.0)):
        if d["trainer"].get(key, default) == default:
            d["trainer"].pop(key, None)
    blob = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def dump_yaml(cfg: Any) -> str:
    """A config dataclass (or its :func:`to_dict`) as YAML text (round-trips through
    :func:`load_experiment`)."""
    return yaml.safe_dump(dict(cfg) if isinstance(cfg, Mapping) else to_dict(cfg),
                          sort_keys=False)
