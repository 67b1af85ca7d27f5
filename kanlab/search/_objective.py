"""The training objective: one trial = one ``kanlab train`` run of the drawn config."""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback

from kanlab import _sigint as sigint
from kanlab.config import config_hash, load_experiment, to_dict
from kanlab.registry import suggest
from kanlab.search._optuna_private import study_storage, trial_id, write_user_attrs
from kanlab.search.devices import CPU, Placement
from kanlab.search.spec import ROW_METRICS, StudyPlan

__all__ = ["FAIL_REASON", "TrialContext", "failure_reason", "make_objective", "metric_value",
           "placed", "retry_running", "set_user_attrs"]

logger = logging.getLogger(__name__)
FAIL_REASON = "fail_reason"  # user attribute: one line saying why a trial failed


@dataclass(frozen=True)
class TrialContext:
    """What an objective needs besides the trial: where to write and which study it serves."""

    results_dir: Path
    study: str
    storage: str  # masked URL, safe to record
    worker: int = 0
    placement: Placement = CPU  # where this worker trains (recorded as the trial's ``device``)
    url: str = ""  # the storage URL itself (password included): a spawned DDP rank reopens it


def set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """Write several user attributes of a running trial, in one statement on a database.

    Optuna's ``Trial.set_user_attr`` commits every key on its own (3-4 round trips per key on
    PostgreSQL). On PostgreSQL and SQLite the keys are written with one upsert
    (:func:`kanlab.search._optuna_private.write_user_attrs`); other storages (journal file,
    gRPC proxy, in memory) get one call per key. The trial's cached view is updated as
    ``Trial.set_user_attr`` updates it.
    """
    if attrs and write_user_attrs(trial, attrs):
        return
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


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
    raise ValueError(
        f"Unknown metric {name!r}.{suggest(name, available)} Available: {', '.join(available)}."
    )


def train_objective(trial: optuna.Trial, plan: StudyPlan, ctx: TrialContext) -> Any:
    """Draw a config, train it through :func:`kanlab.lit.train.train`, return its metric(s).

    Single-objective studies report the monitored ``val/...`` metric after every epoch
    (``PyTorchLightningPruningCallback``) so the pruner can stop the trial; a pruned trial
    keeps its record (user attributes) like a complete one.
    """
    from kanlab.lit.train import train
    from kanlab.search._rerun import rerun_command

    values = plan.spec.space.suggest(trial, plan.base_raw)
    raw = plan.trial_config(values, trial.number)
    kept = trial.user_attrs.get("seed")  # a retried trial (Ctrl-C, dead worker) keeps its seed
    if kept is not None:
        raw["seed"] = int(kept)
    cfg = load_experiment(raw)
    import torch

    # CPU rounding depends on the thread count: the rerun states this trial's, so it gives
    # the trial's numbers (run rows record it as `threads`).
    rerun = f"OMP_NUM_THREADS={torch.get_num_threads()} {rerun_command(plan.rerun_base, raw)}"
    resolved = to_dict(cfg)
    set_user_attrs(trial, {"config": resolved, "config_hash": config_hash(resolved),
                           "seed": cfg.seed, "rerun": rerun})
    cfg = dataclasses.replace(cfg, trainer=_trainer_here(cfg.trainer, ctx.placement))
    metrics = plan.spec.metric_names
    callbacks: list[Any] = []
    if plan.spec.pruner_name != "none" and metrics[0].startswith("val/"):
        from kanlab.lit.pruning import PruningCallback
        from kanlab.search._pruning import TrialJudge

        callbacks.append(PruningCallback(TrialJudge(trial, url=ctx.url or ctx.storage),
                                         monitor=metrics[0]))
    attrs = {"study": ctx.study, "number": trial.number, "storage": ctx.storage,
             "params": dict(values), "worker": ctx.worker, "device": ctx.placement.label}
    from kanlab.lit.pruning import RunPruned

    try:
        result = train(cfg, results_dir=ctx.results_dir, extra_callbacks=callbacks,
                       progress_bar=False, trial_attrs=attrs)
    except RunPruned as exc:
        set_user_attrs(trial, {"epochs": exc.epoch + 1, **_size(cfg)})
        raise optuna.TrialPruned(f"Trial was pruned at epoch {exc.epoch}.") from None
    row = result.row
    done: dict[str, Any] = {"epochs": int(result.epochs_run),
                            "run_dir": str(row.get("run_dir", result.run_dir))}
    done.update({k: row[k] for k in ("params", "latency_ms", "flops") if row.get(k) is not None})
    done.update({k: float(v) for k, v in result.metrics.items() if v is not None})
    set_user_attrs(trial, done)
    out = [metric_value(m, result.metrics, row) for m in metrics]
    return out[0] if len(out) == 1 else out


def _trainer_here(tc: Any, placement: Placement) -> Any:
    """The trainer settings of ``tc`` on this worker's ``placement`` (:func:`placed`)."""
    accelerator, devices, strategy = placed(placement, devices=tc.devices, strategy=tc.strategy)
    return dataclasses.replace(tc, accelerator=accelerator, devices=devices, strategy=strategy)


def placed(placement: Placement, *, devices: Any, strategy: Any) -> tuple[str, Any, Any]:
    """Lightning's ``(accelerator, devices, strategy)`` for a trial asking for ``devices``
    and ``strategy``, on a worker's ``placement``.

    The worker's device is not part of the configuration (config_hash ignores it too); how
    many devices is: on the CPU a trial with ``devices: N`` runs N processes (gloo). A trial
    on several devices with ``strategy: ddp`` (or ``auto``) runs as ``ddp_spawn``: Lightning's
    ``ddp`` would start each rank by re-running this worker's command line (another worker),
    ``ddp_spawn`` starts processes that only train; config_hash counts both as ``ddp``.
    """
    from kanlab.config import _device_count

    accelerator, here = placement.trainer_settings()
    wanted = _device_count(devices)
    if placement.is_cpu and isinstance(wanted, int) and wanted > 1:
        here = wanted
    many = (here > 1 if isinstance(here, int)
            else len([d for d in str(here).split(",") if d.strip()]) > 1)
    if many and str(strategy) in ("auto", "ddp"):
        strategy = "ddp_spawn"
    return accelerator, here, strategy


def _size(cfg: Any) -> dict[str, int]:
    """``{"params": n}`` for a pruned trial's model (its run row may not exist), or ``{}``."""
    try:
        from kanlab.lit import build_model
        from kanlab.measure import count_params

        return {"params": count_params(build_model(cfg))}
    except Exception as exc:  # a size is nice to have; the pruned state is what matters
        logger.debug("could not count params of %s: %s", cfg.name, exc)
        return {}


def make_objective(
    plan: StudyPlan, ctx: TrialContext
) -> Callable[[optuna.Trial], float | Sequence[float]]:
    """``trial -> value(s)`` for ``study.optimize``: training, or the spec's custom objective."""
    custom = plan.objective_fn()
    fn = custom if custom is not None else train_objective

    def objective(trial: optuna.Trial) -> Any:
        where: dict[str, Any] = {"device": ctx.placement.label, "worker": ctx.worker,
                                 "host": host_name(), "pid": os.getpid()}
        if trial.user_attrs.get(FAIL_REASON) is not None:  # inherited by a retried trial
            where[FAIL_REASON] = None
        try:
            set_user_attrs(trial, where)
            with sigint.interruptible():  # Ctrl-C stops the trial's work at once
                return fn(trial, plan, ctx)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            # (run_worker defers a second Ctrl-C here: the trial ends FAIL, not RUNNING)
            trial.set_user_attr(FAIL_REASON, "interrupted (Ctrl-C)")
            retry_interrupted(trial, max_retry=plan.spec.max_retry)
            raise
        except Exception as exc:
            trial.set_user_attr(FAIL_REASON, failure_reason(exc))
            if _killed_rank(exc):  # like a dead worker's trial: queued again
                retry_interrupted(trial, max_retry=plan.spec.max_retry)
            raise

    return objective


def _killed_rank(exc: BaseException) -> bool:
    """Whether a DDP rank of the trial died from a signal (SIGKILL, the OOM killer...)."""
    while exc is not None:
        if getattr(exc, "signal_name", None):  # torch.multiprocessing.ProcessExitedException
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def host_name() -> str:
    """The machine a trial runs on (recorded as its ``host`` user attribute): SLURM's node
    name where SLURM set one (``$SLURMD_NODENAME``), else the host name."""
    import os
    import socket

    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def failure_reason(exc: BaseException) -> str:
    """``Type: first line of the message`` (what ``kanlab study show`` lists)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def retry_interrupted(trial: optuna.Trial, *, max_retry: int) -> None:
    """Queue a retry of an interrupted trial (Ctrl-C, a killed DDP rank): same parameters,
    same user attributes (seed).

    Optuna marks the trial FAIL when the interrupt leaves the objective; the queued copy is
    what the next ``kanlab search`` (the same command) runs first, like the retry of a trial
    whose worker died (``RetryHeartbeatStaleTrialCallback``, which this reuses).
    """
    retry_running(trial.study, study_storage(trial.study).get_trial(trial_id(trial)),
                  max_retry=max_retry)


def retry_running(study: optuna.Study, frozen: optuna.trial.FrozenTrial, *,
                  max_retry: int) -> None:
    """Queue a retry of ``frozen``: same parameters and user attributes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, frozen)
