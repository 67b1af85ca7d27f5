"""Checks a study makes before its first trial, and before it resumes.

* :func:`check_plan` — what :func:`kanlab.search.spec.load_study` cannot see from the config
  alone, for the ``train`` objective: the metric names (against what the training system logs
  and the run row holds), the trainer's devices, the data on disk, and one forward pass of
  every model the space can produce (a top-k ``k`` above a layer's width fails here, not in
  trial 3).
* :func:`check_spawned` — a trial that would run as ``ddp_spawn`` keeps its checkpoints (its
  epochs come back from the spawned ranks through ``last.ckpt``); depends on the workers'
  placements, so it runs when they are known, still before the study is opened.
* :func:`check_resume` — a study in the storage was started from the same spec and the same
  ``--set`` values; otherwise its trials would mix incompatible configurations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kanlab.config import (
    SPAWNED_STRATEGIES,
    ConfigError,
    ExperimentConfig,
    TrainerConfig,
)
from kanlab.registry import suggest
from kanlab.search._rerun import config_overrides
from kanlab.search._space import format_value
from kanlab.search.spec import ROW_METRICS, StudyPlan

if TYPE_CHECKING:
    from kanlab.search.devices import Placement

__all__ = ["check_plan", "check_resume", "check_spawned", "trial_metrics"]

# Study YAML keys that decide what a trial trains and reports (the rest — n_trials, timeout,
# heartbeats, description — may change between runs of one study).
_TRIAL_KEYS = ("base", "fixed", "space", "metric", "metrics", "objective", "seed")


def trial_metrics(cfg: ExperimentConfig) -> list[str]:
    """Metric names a ``train`` trial can return for this (validated) base experiment."""
    from kanlab.lit.classifier import ImageClassifier
    from kanlab.lit.regressor import FunctionRegressor
    from kanlab.lit.train import task_of

    regression = task_of(cfg) == "regression"
    system = FunctionRegressor if regression else ImageClassifier
    m = system.metric_name
    names = [f"val/{m}", "val/loss", f"test/{m}", "test/loss", "epoch_time_s"]
    if not regression and cfg.trainer.test_every_epoch:
        names.append("test_selected/acc")
    return [*names, *ROW_METRICS]


def _probe_configs(
    plan: StudyPlan,
) -> Sequence[tuple[Mapping[str, Any], ExperimentConfig]]:
    """The base and, for each parameter, each probe value under its branch conditions, as
    plain data and validated: what :func:`~kanlab.search.spec.load_study` checked."""
    if not plan.checked:  # every plan comes from load_study, which fills it
        raise RuntimeError("a StudyPlan must come from load_study (its `checked` is empty)")
    return plan.checked


def check_plan(plan: StudyPlan) -> None:
    """Metric names, trainer, data and a forward pass of every probe model (``train``).

    Raises:
        ConfigError: an unknown metric, a model that fails on the data's input shape.
        SetupError: the trainer's accelerator or devices are missing on this machine, or the
            data is not on disk and cannot be fetched.
    """
    if plan.spec.objective != "train":
        return
    from kanlab.lit.train import build_datamodule, check_model_on, check_trainer

    configs = _probe_configs(plan)
    allowed = trial_metrics(configs[0][1])
    key = "metrics" if plan.spec.metrics is not None else "metric"
    for name in plan.spec.metric_names:
        if name not in allowed:
            raise ConfigError(
                f"`{key}` must name a metric a trial reports ({', '.join(allowed)}), but got "
                f"{key}={name!r}.{suggest(name, allowed)}"
            )
    seen: set[str] = set()
    datamodules: dict[str, Any] = {}
    for raw, cfg in configs:
        data_key = json.dumps(raw.get("data"), sort_keys=True, default=str)
        trainer_key = "trainer:" + json.dumps(raw.get("trainer"), sort_keys=True, default=str)
        if trainer_key not in seen:
            seen.add(trainer_key)
            check_trainer(cfg)
        model_key = json.dumps([raw.get("model"), raw.get("data")], sort_keys=True, default=str)
        if model_key in seen:
            continue
        seen.add(model_key)
        if data_key not in datamodules:
            datamodules[data_key] = build_datamodule(cfg)
            datamodules[data_key].prepare_data()  # data missing: a SetupError now, not later
        try:
            check_model_on(cfg, datamodules[data_key])
        except ConfigError as exc:
            drawn = ", ".join(
                f"{k}={format_value(v)}"
                for k, v in config_overrides(plan.base_raw, raw) if k != "seed"
            )
            raise ConfigError(f"{exc} (trial config: {drawn or 'the base'})") from None


def check_spawned(plan: StudyPlan, placements: Sequence[Placement]) -> None:
    """Refuse a ``train`` study whose trials would run as ``ddp_spawn`` without checkpoints.

    A trial on several devices runs as ``ddp_spawn``
    (:func:`kanlab.search._objective.placed`), as does one whose ``strategy`` names it; its
    epochs come back from the spawned ranks through ``last.ckpt``, so with
    ``trainer.checkpoint: false`` every trial would record an empty run (epochs 0) and then
    fail ("Unknown metric"). Checks the base and every probe configuration of the space on
    each worker's placement, from the configurations as plain data (no validation again).

    Raises:
        ConfigError: one line naming ``trainer.checkpoint`` and the trial's devices.
    """
    if plan.spec.objective != "train":
        return
    from kanlab.search._objective import placed

    default = TrainerConfig()
    for raw, _ in _probe_configs(plan):
        trainer = raw.get("trainer") or {}
        if trainer.get("checkpoint", default.checkpoint):
            continue
        wanted = trainer.get("devices", default.devices)
        for placement in dict.fromkeys(placements):
            _, _, strategy = placed(placement, devices=wanted,
                                          strategy=trainer.get("strategy", default.strategy))
            if str(strategy) not in SPAWNED_STRATEGIES:
                continue
            drawn = ", ".join(f"{k}={format_value(v)}"
                              for k, v in config_overrides(plan.base_raw, raw) if k != "seed")
            raise ConfigError(
                f"`trainer.checkpoint` must be true for a trial that runs as {strategy} (its "
                f"epochs come back from the spawned ranks through last.ckpt), but got "
                f"trainer.checkpoint=false (trainer.devices={wanted!r} on {placement.label}; "
                f"trial config: {drawn or 'the base'})."
            )


def _leaf_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Dotted paths of the leaves where ``a`` and ``b`` differ (a missing mapping is empty)."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        a_map = a if isinstance(a, Mapping) else {}
        b_map = b if isinstance(b, Mapping) else {}
        if not (isinstance(a, Mapping) or a is None) or not (isinstance(b, Mapping) or b is None):
            return [path]
        found: list[str] = []
        for key in sorted({*a_map, *b_map}, key=str):
            sub = f"{path}.{key}" if path else str(key)
            found += _leaf_differences(a_map.get(key), b_map.get(key), sub)
        return found
    return [] if a == b else [path]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def check_resume(study: Any, plan: StudyPlan) -> None:
    """Refuse to add trials of another configuration to an existing study.

    Compares the stored resolved base (base YAML + ``fixed`` + ``--set``) and the spec keys
    that shape a trial; studies written before these attributes existed are not checked.

    Raises:
        ConfigError: one line naming what differs and how to proceed.
    """
    attrs = study.user_attrs
    hint = "pass --study NEW_NAME to start a separate study, or rerun with the study's values"
    stored_base = attrs.get("base_config")
    if stored_base is not None:
        now = _jsonable(plan.base_raw)
        if stored_base != now:
            paths = sorted(set(_leaf_differences(stored_base, now)))
            old = " ".join(attrs.get("overrides") or []) or "(none)"
            new = " ".join(plan.overrides) or "(none)"
            raise ConfigError(
                f"Study {study.study_name!r} holds trials of another configuration "
                f"({', '.join(paths)} differ; it was started with --set {old}, this command "
                f"has --set {new}); {hint}."
            )
    stored_spec = attrs.get("kanlab_spec")
    if isinstance(stored_spec, Mapping):
        now_spec = _jsonable(plan.raw)
        changed = [k for k in _TRIAL_KEYS if stored_spec.get(k) != now_spec.get(k)]
        if changed:
            raise ConfigError(
                f"Study {study.study_name!r} was started from a study YAML with another "
                f"{', '.join(f'`{k}`' for k in changed)}; {hint}."
            )
