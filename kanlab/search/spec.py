"""Study YAML -> :class:`StudySpec`, checked completely before any trial runs.

A study YAML names a base experiment and the config values to search::

    name: fmnist_kan_grid
    base: experiments/fashion_mnist/b_spline_kan.yaml   # relative to this file or the repo
    direction: maximize            # or directions: [maximize, minimize]
    metric: val/acc                # or metrics: [val/acc, params]
    sampler: {name: tpe, seed: 0}
    pruner: {name: median, n_warmup_steps: 2}
    n_trials: 30
    space:
      model.layer.grid_size: {int: [3, 12]}

:func:`load_study` validates everything a trial would need: the base experiment (with
``--set`` overrides), every space path (each probe value is applied to the base and the result
validated with :func:`kanlab.config.load_experiment`, so an unknown key or a bad choice fails
with its dotted path), the sampler and the pruner. Nothing touches a storage before that.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, cast

import optuna

from kanlab.config import (
    ConfigError,
    ExperimentConfig,
    Spec,
    apply_overrides,
    from_dict,
    load_experiment,
    parse_overrides,
    read_yaml,
)
from kanlab.registry import Draws, suggest
from kanlab.search._space import Space, apply_values, format_value, parse_space
from kanlab.search.pruners import PRUNERS
from kanlab.search.samplers import SAMPLERS, check_packages

__all__ = ["StudyPlan", "StudySpec", "load_study"]

REPO_ROOT = Path(__file__).resolve().parents[2]
# Metrics read from the run row rather than the logged metrics.
ROW_METRICS = ("params", "flops", "latency_ms", "wall_time_s", "epochs")
_MINIMIZED = ("loss", "params", "flops", "latency", "mse", "error", "time")


@dataclass(frozen=True)
class StudySpec:
    """A study YAML.

    Args:
        name: Study name (default: the file stem); also the default storage file name.
        base: Experiment YAML path (relative to the study file, then the repo root) or an
            inline experiment mapping.
        space: Dotted config path -> distribution, with ``when`` branches
            (:mod:`kanlab.search._space`).
        direction: ``maximize`` or ``minimize`` (default: inferred from the metric).
        directions: One direction per metric, for multi-objective studies.
        metric: What a trial returns; ``val/acc`` (best over epochs) by default.
        metrics: Several metrics (multi-objective), e.g. ``[val/acc, params]``.
        sampler: ``{name: tpe|random|grid|cmaes|nsga2|nsga3|gp|qmc|brute_force, ...}``; its
            seed defaults to ``seed``.
        pruner: ``{name: median|percentile|hyperband|successive_halving|threshold|none, ...}``;
            default ``median`` for one objective, ``none`` (the only option) for several.
        n_trials: Finished (complete or pruned) trials the study should hold.
        timeout: Seconds after which a worker starts no new trial.
        storage: Optuna storage URL or a SQLite file path relative to the results dir
            (default ``<results dir>/studies/<name>.db``).
        seed: Trial ``t`` trains with seed ``seed + t``.
        heartbeat_interval: Seconds between a running trial's heartbeats.
        grace_period: Seconds without heartbeat after which a trial counts as dead (FAIL) and
            is retried.
        max_retry: How often a dead trial is retried.
        fixed: ``{dotted path: value}`` set on the base for every trial (shorter epochs, a
            data subset), before the command line's ``--set`` overrides.
        objective: ``train`` (train the experiment) or ``module:function`` taking
            ``(trial, plan, context)`` (custom objectives, tests).
        description: Free text shown by ``kanlab study show``.
    """

    base: str | Mapping[str, Any]
    space: Any
    name: str = ""
    direction: str | None = None
    directions: tuple[str, ...] | None = None
    metric: str | None = None
    metrics: tuple[str, ...] | None = None
    sampler: Annotated[Spec | None, Draws(SAMPLERS)] = None
    pruner: Annotated[Spec | None, Draws(PRUNERS)] = None
    n_trials: int = 20
    timeout: float | None = None
    storage: str | None = None
    seed: int = 0
    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retry: int = 2
    fixed: Mapping[str, Any] = field(default_factory=dict)
    objective: str = "train"
    description: str = ""

    def __post_init__(self) -> None:
        if self.n_trials < 1:
            raise ConfigError(f"`n_trials` must be >= 1, but got n_trials={self.n_trials}.")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"`timeout` must be > 0, but got timeout={self.timeout}.")
        for key in ("heartbeat_interval", "grace_period"):
            if getattr(self, key) < 1:
                raise ConfigError(f"`{key}` must be >= 1, but got {key}={getattr(self, key)}.")
        if self.grace_period <= self.heartbeat_interval:
            raise ConfigError(
                "`grace_period` must be longer than `heartbeat_interval`, but got "
                f"grace_period={self.grace_period}, heartbeat_interval={self.heartbeat_interval}."
            )
        if self.max_retry < 0:
            raise ConfigError(f"`max_retry` must be >= 0, but got max_retry={self.max_retry}.")
        for d in (self.direction, *(self.directions or ())):
            if d is not None and d not in ("maximize", "minimize"):
                raise ConfigError(
                    f"`direction` must be maximize or minimize, but got {d!r}."
                    f"{suggest(str(d), ['maximize', 'minimize'])}"
                )
        if self.metric is not None and self.metrics is not None:
            raise ConfigError("Give `metric` or `metrics`, not both.")
        if self.direction is not None and self.directions is not None:
            raise ConfigError("Give `direction` or `directions`, not both.")
        metrics = self.metric_names
        if not metrics or len(set(metrics)) != len(metrics):
            raise ConfigError(f"`metrics` must be non-empty and distinct, but got {metrics}.")
        for m in metrics:
            if not isinstance(m, str) or not m:
                raise ConfigError(f"`metrics` must be metric names, but got {m!r}.")
        if self.directions is not None and len(self.directions) != len(metrics):
            raise ConfigError(
                f"`directions` must have one entry per metric ({len(metrics)}), but got "
                f"directions={list(self.directions)}."
            )
        if self.direction is not None and len(metrics) > 1:
            raise ConfigError(
                f"Several metrics need `directions: [...]`, but got direction={self.direction!r}."
            )
        if len(metrics) > 1 and self.pruner is not None and self.pruner.name != "none":
            raise ConfigError(
                f"`pruner` must be none for a multi-objective study (Optuna cannot prune "
                f"trials with several objectives), but got pruner={self.pruner.name!r}."
            )
        if self.objective != "train" and ":" not in self.objective:
            raise ConfigError(
                "`objective` must be 'train' or 'module:function', but got "
                f"objective={self.objective!r}."
            )
        if not isinstance(self.space, Space):
            object.__setattr__(self, "space", parse_space(self.space))

    @property
    def metric_names(self) -> tuple[str, ...]:
        if self.metrics is not None:
            return tuple(self.metrics)
        return (self.metric or "val/acc",)

    @property
    def direction_names(self) -> tuple[str, ...]:
        if self.directions is not None:
            return tuple(self.directions)
        if self.direction is not None:
            return (self.direction,)
        return tuple(
            "minimize" if any(s in m for s in _MINIMIZED) else "maximize"
            for m in self.metric_names
        )

    @property
    def multi_objective(self) -> bool:
        return len(self.metric_names) > 1

    @property
    def pruner_name(self) -> str:
        if self.multi_objective:
            return "none"
        return self.pruner.name if self.pruner is not None else "median"


@dataclass(frozen=True)
class StudyPlan:
    """A validated study: the spec, its resolved base experiment and where it came from.

    ``source`` is the study YAML (``None`` for an inline mapping); ``base_raw`` is the base
    experiment as plain data with the ``--set`` overrides applied; ``raw`` the study mapping
    as read (stored with the study; a resumed study is checked against it); ``checked`` the
    base and every probe configuration of the space (:func:`probes`), each as plain data and
    validated, in that order (:func:`load_study` fills it; the later checks read it instead of
    validating again). Worker processes receive the whole plan from the caller
    (:mod:`kanlab.search._handoff`).
    """

    spec: StudySpec
    base_raw: Mapping[str, Any]
    raw: Mapping[str, Any]
    source: Path | None = None
    base_path: Path | None = None
    overrides: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    checked: tuple[tuple[Mapping[str, Any], ExperimentConfig], ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def benchmark(self) -> str:
        return str(self.base_raw["data"]["name"]) if isinstance(
            self.base_raw.get("data"), Mapping
        ) else str(self.base_raw.get("data"))

    def trial_config(self, values: Mapping[str, Any], number: int) -> dict[str, Any]:
        """Plain config of trial ``number``: base + overrides + drawn values + its seed.

        Trials are named after the study, so their runs read as such in run directories and
        leaderboards (and trials that drew the same configuration group together).
        """
        raw = apply_values(self.base_raw, values)
        raw["name"] = self.spec.name or raw.get("name", "trial")
        raw["seed"] = self.spec.seed + number
        return raw

    def rerun_command(self, values: Mapping[str, Any], number: int) -> str:
        """The ``kanlab train`` command line that reproduces trial ``number``."""
        from kanlab.search._rerun import rerun_command

        return rerun_command(self.rerun_base, self.trial_config(values, number))

    @property
    def rerun_base(self) -> Path | Mapping[str, Any]:
        """What a trial's ``kanlab train`` command starts from: the base YAML or mapping."""
        if self.base_path is not None:
            return self.base_path
        return cast(Mapping[str, Any], self.spec.base)

    def make_sampler(self, *, worker: int = 0) -> optuna.samplers.BaseSampler:
        """The spec's sampler; its seed is offset by the worker index so workers differ."""
        spec = self.spec.sampler or Spec("tpe")
        params = dict(spec.to_dict())
        params.pop("name")
        cls = SAMPLERS.get(spec.name)
        check_packages(spec.name)
        if "seed" in _kwargs(cls):
            params["seed"] = int(params.get("seed", self.spec.seed)) + worker
        if spec.name == "grid":
            params["search_space"] = self.spec.space.grid()
        try:
            return cast(optuna.samplers.BaseSampler, cls(**params))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"`sampler` ({spec.name}): {exc}") from None

    def make_pruner(self) -> optuna.pruners.BasePruner:
        spec = self.spec.pruner or Spec(self.spec.pruner_name)
        params = dict(spec.to_dict())
        params.pop("name")
        try:
            return cast(optuna.pruners.BasePruner, PRUNERS.get(spec.name)(**params))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"`pruner` ({spec.name}): {exc}") from None

    def objective_fn(self) -> Callable[..., Any] | None:
        """The custom objective (``None`` for ``train``)."""
        if self.spec.objective == "train":
            return None
        module, _, attr = self.spec.objective.partition(":")
        try:
            fn: Callable[..., Any] = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"`objective` {self.spec.objective!r} cannot be imported ({exc})."
            ) from None
        return fn


def _kwargs(cls: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return set()


def _find_base(base: str, source: Path | None) -> Path:
    candidates = []
    p = Path(base)
    if p.is_absolute():
        candidates.append(p)
    else:
        if source is not None:
            candidates.append(source.parent / p)
        candidates += [Path.cwd() / p, REPO_ROOT / p]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    if not p.is_absolute():  # a shipped experiment's name, e.g. fashion_mnist/mlp
        from kanlab.errors import InputError
        from kanlab.registry import suggest
        from kanlab.specs import list_specs, resolve_spec

        try:
            return resolve_spec(base, "experiments").resolve()
        except InputError:
            names = [s.name for s in list_specs("experiments")]
            hint = suggest(base.removesuffix(".yaml"), names)
            raise ConfigError(
                f"`base` experiment {base!r} does not exist (looked next to the study file, "
                f"in the working directory and the repo root) and is no shipped experiment's "
                f"name.{hint} (kanlab list experiments)"
            ) from None
    raise ConfigError(f"`base` experiment {base!r} does not exist.")


def load_study(
    source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
) -> StudyPlan:
    """Read and validate a study YAML (or mapping); ``overrides`` apply to the base experiment.

    Raises:
        ConfigError: with the dotted path of the first problem (a ``ValueError``).
    """
    path: Path | None = None
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        path = Path(source).resolve()
        raw = read_yaml(source)
        raw.setdefault("name", Path(source).stem)
    spec = from_dict(StudySpec, raw)
    if not spec.name:
        raise ConfigError("Missing required key `name` (a study needs a name).")
    base_path: Path | None = None
    if isinstance(spec.base, str):
        base_path = _find_base(spec.base, path)
        base_raw: dict[str, Any] = read_yaml(base_path)
        base_raw.setdefault("name", base_path.stem)
    else:
        base_raw = {k: v for k, v in spec.base.items()}
    if spec.fixed:
        base_raw = apply_values(base_raw, dict(spec.fixed))
    base_raw = apply_overrides(base_raw, parse_overrides(list(overrides)))
    try:
        base = load_experiment(base_raw)
    except ConfigError as exc:
        raise ConfigError(f"base experiment: {exc}") from None
    plan = StudyPlan(
        spec=spec,
        base_raw=base_raw,
        raw=raw,
        source=path,
        base_path=base_path,
        overrides=tuple(overrides),
    )
    plan = dataclasses.replace(plan, checked=((base_raw, base), *check_space(plan)))
    plan.make_sampler()
    plan.make_pruner()
    plan.objective_fn()
    return plan


def probes(plan: StudyPlan) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Each parameter's probe values with the values a trial would have drawn before it.

    Yields ``(path, value, values)``: ``values`` maps dotted paths to the values applied to the
    base config. Parameters drawn before this one under compatible conditions take their first
    probe value, so a branch may build a nested spec step by step (``model.layer.name`` then
    ``model.layer.func``), exactly as a trial applies them; a condition listing several values
    (``{if: {model.layer.name: [a, b]}}``) holds for each of them, so each is probed.
    """
    walked = list(plan.spec.space.walk())
    for i, (param, condition) in enumerate(walked):
        context = {
            other.path: other.probe_values()[0]
            for other, other_condition in walked[:i]
            if other.path not in condition
            and all(condition.get(k) == v for k, v in other_condition.items())
        }
        options = [v if isinstance(v, list) else [v] for v in condition.values()]
        for chosen in itertools.product(*options):
            holds = dict(zip(condition, chosen, strict=True))
            for value in param.probe_values():
                yield param.path, value, {**context, **holds, param.path: value}


def check_space(plan: StudyPlan) -> list[tuple[dict[str, Any], ExperimentConfig]]:
    """Apply each probe of :func:`probes` to the base config and validate the result.

    Returns:
        Each probe configuration, as plain data and validated.
    """
    checked = []
    for path, value, values in probes(plan):
        raw = apply_values(plan.base_raw, values)
        try:
            checked.append((raw, load_experiment(raw)))
        except ConfigError as exc:
            raise ConfigError(f"space.{path}={format_value(value)}: {exc}") from None
    return checked

