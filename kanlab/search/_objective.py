"""The training objective: one trial = one ``kanlab train`` run of the drawn config."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from kanlab.config import config_hash, load_experiment, to_dict
from kanlab.search.devices import CPU, Placement
from kanlab.search.spec import ROW_METRICS, StudyPlan

__all__ = ["TrialContext", "make_objective", "metric_value"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialContext:
    """What an objective needs besides the trial: where to write and which study it serves."""

    results_dir: Path
    study: str
    storage: str  # masked URL, safe to record
    worker: int = 0
    placement: Placement = CPU  # where this worker trains (recorded as the trial's ``device``)


def metric_value(name: str, metrics: Mapping[str, float], row: Mapping[str, Any]) -> float:
    """A metric by name from the run's logged metrics, or from the run row (``params``...)."""
    if name in metrics and metrics[name] is not None:
        return float(metrics[name])
    if name in row and row[name] is not None:
        return float(row[name])
    nested = row.get("metrics", {})
    if name in nested and nested[name] is not None:
        return float(nested[name])
    available = sorted({*metrics, *ROW_METRICS})
    raise ValueError(f"Unknown metric {name!r}; available: {', '.join(available)}.")


def train_objective(trial: optuna.Trial, plan: StudyPlan, ctx: TrialContext) -> Any:
    """Draw a config, train it through :func:`kanlab.lit.train.train`, return its metric(s).

    Single-objective studies report the monitored ``val/...`` metric after every epoch
    (``PyTorchLightningPruningCallback``) so the pruner can stop the trial; a pruned trial
    keeps its record (user attributes) like a complete one.
    """
    from kanlab.lit.train import train

    values = plan.spec.space.suggest(trial, plan.base_raw)
    raw = plan.trial_config(values, trial.number)
    cfg = load_experiment(raw)
    trial.set_user_attr("config", to_dict(cfg))
    trial.set_user_attr("config_hash", config_hash(cfg))
    trial.set_user_attr("seed", cfg.seed)
    trial.set_user_attr("rerun", plan.rerun_command(values, trial.number))
    # The worker's device is not part of the configuration (config_hash ignores it too).
    accelerator, devices = ctx.placement.trainer_settings()
    cfg = dataclasses.replace(cfg, trainer=dataclasses.replace(
        cfg.trainer, accelerator=accelerator, devices=devices))
    metrics = plan.spec.metric_names
    callbacks: list[Any] = []
    pruning = None
    if plan.spec.pruner_name != "none" and metrics[0].startswith("val/"):
        from optuna_integration import PyTorchLightningPruningCallback

        pruning = PyTorchLightningPruningCallback(trial, monitor=metrics[0])
        callbacks.append(pruning)
    attrs = {"study": ctx.study, "number": trial.number, "storage": ctx.storage,
             "params": dict(values), "worker": ctx.worker, "device": ctx.placement.label}
    try:
        result = train(cfg, results_dir=ctx.results_dir, extra_callbacks=callbacks,
                       progress_bar=False, trial_attrs=attrs)
    except optuna.TrialPruned:
        trial.set_user_attr("epochs", len(trial.storage.get_trial(trial._trial_id)
                                          .intermediate_values))
        _record_size(trial, cfg)
        raise
    row = result.row
    trial.set_user_attr("epochs", int(result.epochs_run))
    trial.set_user_attr("run_dir", str(row.get("run_dir", result.run_dir)))
    for key in ("params", "latency_ms", "flops"):
        if row.get(key) is not None:
            trial.set_user_attr(key, row[key])
    for key, value in result.metrics.items():
        if value is not None:
            trial.set_user_attr(key, float(value))
    if pruning is not None:
        pruning.check_pruned()
    out = [metric_value(m, result.metrics, row) for m in metrics]
    return out[0] if len(out) == 1 else out


def _record_size(trial: optuna.Trial, cfg: Any) -> None:
    """Parameter count of a pruned trial's model (its run row may not exist)."""
    try:
        from kanlab.lit import build_model
        from kanlab.measure import count_params

        trial.set_user_attr("params", count_params(build_model(cfg)))
    except Exception as exc:  # a size is nice to have; the pruned state is what matters
        logger.debug("could not count params of trial %d: %s", trial.number, exc)


def make_objective(
    plan: StudyPlan, ctx: TrialContext
) -> Callable[[optuna.Trial], float | Sequence[float]]:
    """``trial -> value(s)`` for ``study.optimize``: training, or the spec's custom objective."""
    custom = plan.objective_fn()
    fn = custom if custom is not None else train_objective

    def objective(trial: optuna.Trial) -> Any:
        trial.set_user_attr("device", ctx.placement.label)
        trial.set_user_attr("worker", ctx.worker)
        return fn(trial, plan, ctx)

    return objective
