"""Train one experiment config with Lightning and record the run (the ``kanlab train`` API).

``train(cfg, results_dir=...)`` seeds everything, builds data module, model, system and trainer
from the config, fits with checkpoints on the best validation score, tests once with the best
checkpoint and appends one row to ``<results_dir>/<benchmark>/runs.jsonl`` under a file lock
(benchmark: the config's ``benchmark``, by default the data module's name).

Run directory ``<results_dir>/<benchmark>/runs/<name>-<config_hash>-s<seed>-<UTC time>/``:
``config.yaml`` (resolved), ``env.json`` (versions, code provenance, seed, device),
``metrics.csv`` (CSVLogger; plus TensorBoard event files with ``trainer.loggers: [csv,
tensorboard]``, see :mod:`kanlab.lit.loggers`), ``best.ckpt`` and ``last.ckpt`` (each also
holding the config).

Provenance (:mod:`kanlab.provenance`): every row records ``git_sha``, ``code_sha`` (tree hash
of kanlab/ at HEAD), ``git_dirty`` (uncommitted kanlab/ changes) and ``cpu_capability``.
Staged training (:mod:`kanlab.lit.staged`): with a stage schedule among the callbacks, the
best checkpoint and the test-selected accuracy come from the final stage's epochs only;
``params`` counts the deployed (e.g. pruned) model and ``params_built`` the model as built.
How the run ended (:mod:`kanlab.lit.ending`): ``converged``, ``stop_reason``, ``max_epochs``,
``stopped_epoch``, ``steps``, ``step_time_s`` and the validation curve (``convergence``).

:func:`train` is a sequence of named steps, each a function here: :func:`build_parts` (seeding,
callbacks, data, model, checks, system), :func:`~kanlab.lit.run_files.open_run_files` (run
directory, ``config.yaml``), :func:`build_trainer`, :func:`write_env` (``env.json``),
:func:`fit_and_test` (fit under the Ctrl-C handler of :mod:`kanlab.lit.interrupt`, then one
test), :func:`~kanlab.lit.run_files.merge_csv`, :func:`build_row` (metrics, FLOPs, latency) and
:func:`~kanlab.lit.run_files.append_row`. The config's plain form and hash are computed once
(:class:`~kanlab.lit.run_files.RunIdentity`) and passed on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import platform
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, cast

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import RichProgressBar
from torch import nn

from kanlab.config import (
    ConfigError,
    ExperimentConfig,
    config_errors,
    config_hash,
    load_experiment,
    to_dict,
)
from kanlab.errors import InputError, SetupError
from kanlab.lit import epoch_step
from kanlab.lit._system import TrainingSystem
from kanlab.lit.checkpoint_state import ConfigInCheckpoint, RNGInCheckpoint
from kanlab.lit.classifier import ImageClassifier
from kanlab.lit.diverged import Diverged, StopOnDivergence
from kanlab.lit.ending import StepTimer, run_ending
from kanlab.lit.interrupt import drop_run_dir, interrupted
from kanlab.lit.lean_hooks import make_lean
from kanlab.lit.loggers import build_loggers, check_loggers
from kanlab.lit.pruning import RunPruned, pruned_epoch
from kanlab.lit.ranks import (
    SPAWNED,
    history_from_ranks,
    one_device_tester,
    ranks_share,
)
from kanlab.lit.regressor import FunctionRegressor
from kanlab.lit.run_files import (
    RunFiles,
    RunIdentity,
    append_row,
    merge_csv,
    open_run_files,
)
from kanlab.lit.staged import FinalStageCheckpoint, FinalStageEarlyStopping, selection_start
from kanlab.measure import count_params, latency_ms, matmul_flops
from kanlab.paths import check_writable
from kanlab.provenance import CodeVersion, code_version, machine
from kanlab.registry import CALLBACKS, DATAMODULES, MODELS

__all__ = [
    "RunResult",
    "append_row",
    "build_datamodule",
    "build_model",
    "build_parts",
    "build_row",
    "build_system",
    "build_trainer",
    "checkpoint_to_resume",
    "fit_and_test",
    "load_run",
    "preflight",
    "quiet_lightning",
    "show_progress",
    "train",
    "write_env",
]

logger = logging.getLogger(__name__)

PACKAGES = ("torch", "lightning", "torchmetrics", "torchvision", "timm", "optuna", "kanlab")


@dataclass
class RunResult:
    """What :func:`train` returns."""

    run_dir: Path
    row: dict[str, Any]
    metrics: dict[str, float]
    epochs_run: int
    model: nn.Module
    is_global_zero: bool = True  # False in the other ranks of a DDP run (they record nothing)


# --------------------------------------------------------------------------- building


def task_of(cfg: ExperimentConfig) -> str:
    """``classification`` or ``regression``, from the data module's registry metadata."""
    return str(DATAMODULES.entry(cfg.data.name).meta.get("task", "classification"))


def build_datamodule(cfg: ExperimentConfig) -> pl.LightningDataModule:
    """The data module named by ``cfg.data``; its constructor's ValueErrors are ConfigErrors."""
    with config_errors("data"):
        return cast(pl.LightningDataModule, cfg.data.build(DATAMODULES))


def build_model(cfg: ExperimentConfig) -> nn.Module:
    """The plain model named by ``cfg.model``; its constructor's ValueErrors are ConfigErrors."""
    with config_errors("model"):
        return cast(nn.Module, cfg.model.build(MODELS))


def build_system(
    cfg: ExperimentConfig, model: nn.Module, datamodule: Any | None = None
) -> TrainingSystem:
    """``ImageClassifier`` or ``FunctionRegressor`` (by the data's task) around ``model``."""
    o = cfg.optim
    common: dict[str, Any] = {
        "optimizer": o.name,
        "lr": o.lr,
        "weight_decay": o.weight_decay,
        "optimizer_params": dict(o.params),
        "scheduler": o.scheduler.to_dict() if o.scheduler is not None else None,
        "regularization_weight": o.regularization_weight,
        "compile_train": cfg.trainer.compile,
    }
    if task_of(cfg) == "regression":
        return FunctionRegressor(model, **common)
    num_classes = int(getattr(datamodule, "num_classes", 0) or 10)
    return ImageClassifier(model, num_classes=num_classes, **common)


# --------------------------------------------------------------------------- environment


def quiet_lightning() -> None:
    """Silence Lightning's tips and info lines (litlogger tip, GPU/TPU availability, seed)."""
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
        "lightning.pytorch.accelerators.cuda",
        "lightning.fabric.utilities.seed",
        "lightning.pytorch.utilities.model_summary",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*",
        ".*exists and is not empty.*",
        ".*LitLogger.*",
        ".*litlogger.*",
        ".*is smaller than the logging interval.*",
        ".*LeafSpec.*",
        ".*Checkpoint directory .* exists and is not empty.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


def versions() -> dict[str, str]:
    """Installed versions of the packages that matter for a result."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def device_name(device: torch.device) -> str:
    """``cpu`` or ``cuda:<GPU name>``."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def _deterministic(setting: bool | str, accelerator: str) -> bool | Literal["warn"]:
    """``auto`` -> ``True`` on CPU, ``"warn"`` on an accelerator."""
    if setting == "auto":
        on_cpu = accelerator == "cpu" or (
            accelerator == "auto" and not torch.cuda.is_available()
        )
        return True if on_cpu else "warn"
    return "warn" if setting == "warn" else bool(setting)


@contextlib.contextmanager
def _restore_global_state() -> Iterator[None]:
    """Undo the process-global switches a deterministic run makes (Optuna runs many trials)."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- preflight


def check_trainer(cfg: ExperimentConfig) -> None:
    """Let Lightning judge ``trainer.accelerator/devices/strategy/precision`` (creates nothing).

    Raises:
        SetupError: the accelerator or the devices are not available on this machine.
        ConfigError: an invalid accelerator, strategy or precision name.
    """
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    quiet_lightning()
    tc = cfg.trainer
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pl.Trainer(accelerator=tc.accelerator, devices=tc.devices, strategy=tc.strategy,
                       precision=tc.precision,  # type: ignore[arg-type]
                       logger=False, enable_checkpointing=False, enable_progress_bar=False,
                       enable_model_summary=False)
    except MisconfigurationException as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SetupError(
            f"`trainer.accelerator={tc.accelerator}` (devices={tc.devices}) cannot run on this "
            f"machine: {reason} Use trainer.accelerator=auto (or cpu)."
        ) from None
    except ModuleNotFoundError as exc:  # an accelerator whose package is not installed
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SetupError(
            f"`trainer.accelerator={tc.accelerator}` needs a package this machine lacks: "
            f"{reason.rstrip('.')}. Use trainer.accelerator=auto (or cpu)."
        ) from None
    except (ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"`trainer`: {reason}") from None


def check_forward(cfg: ExperimentConfig, model: nn.Module, dims: Sequence[int], *,
                  num_classes: int | None = None) -> None:
    """Run ``model`` once on a zero batch ``(2, *dims)`` in eval mode, without gradients.

    Catches what only a forward pass shows (a top-k ``k`` above the layer width, widths that
    do not match the data) before a run directory exists. Eval mode leaves running
    statistics (batch norm, EAFO) untouched. ``num_classes``: the data module's (a class
    attribute; 0 for regression), when the caller holds one; else read from its registered
    class.

    Raises:
        ConfigError: naming the model and the layer's own message.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *dims))
    except (ValueError, RuntimeError, TypeError, IndexError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"`model` ({cfg.model.name}) fails on {cfg.data.name} inputs of shape "
            f"{tuple(dims)}: {reason}"
        ) from None
    finally:
        model.train(was_training)
    # A classifier's output width must be the number of classes (else an IndexError
    # mid-training, or a silently wrong loss when it is wider).
    if num_classes is None:
        num_classes = getattr(DATAMODULES.get(str(cfg.data.name)), "num_classes", 0)
    classes = int(num_classes or 0)
    if classes and isinstance(out, torch.Tensor) and tuple(out.shape) != (2, classes):
        raise ConfigError(
            f"`model` ({cfg.model.name}) must output {classes} values per input (the classes "
            f"of {cfg.data.name}), but got output shape {tuple(out.shape[1:])}; set its last "
            f"width to {classes}."
        )


def preflight(cfg: ExperimentConfig, datamodule: Any | None = None) -> None:
    """Every check :func:`train` makes before it creates anything: trainer and a forward pass.

    ``datamodule`` defaults to a fresh (unprepared) one, enough to know the input shape.
    """
    check_trainer(cfg)
    check_model_on(cfg, datamodule if datamodule is not None else build_datamodule(cfg))


def check_model_on(cfg: ExperimentConfig, datamodule: Any, model: nn.Module | None = None
                   ) -> None:
    """:func:`check_forward` of ``model`` (default: a fresh one) on ``datamodule``'s input
    shape and classes; nothing for a data module without ``dims``."""
    dims = tuple(getattr(datamodule, "dims", ()) or ())
    if dims:
        check_forward(cfg, model if model is not None else build_model(cfg), dims,
                      num_classes=getattr(datamodule, "num_classes", 0))


# --------------------------------------------------------------------------- train


def _callbacks(
    ident: RunIdentity,
    configured: list[pl.Callback],
    system: TrainingSystem,
    run_dir: Path,
    show_progress: bool,
    extra: Sequence[pl.Callback],
) -> list[pl.Callback]:
    tc = ident.cfg.trainer
    callbacks: list[pl.Callback] = list(configured)
    callbacks.append(ConfigInCheckpoint(ident.resolved, ident.config_hash))
    callbacks.append(StopOnDivergence())  # a NaN loss fails the run (kanlab/lit/diverged.py)
    callbacks.append(RNGInCheckpoint())
    if tc.checkpoint:
        callbacks.append(
            FinalStageCheckpoint(
                select_from=system.select_from, dirpath=run_dir, filename="best",
                monitor=system.monitor, mode=system.monitor_mode, save_last=True,
                auto_insert_metric_name=False, enable_version_counter=False,
            )
        )
    if tc.early_stopping_patience is not None:
        callbacks.append(
            FinalStageEarlyStopping(select_from=system.select_from, monitor=system.monitor,
                                    mode=system.monitor_mode,
                                    patience=tc.early_stopping_patience,
                                    min_delta=tc.early_stopping_min_delta)
        )
    callbacks.append(StepTimer())
    if show_progress:
        callbacks.append(RichProgressBar(leave=True))
    callbacks.extend(extra)
    return callbacks


def _tested_epoch(system: TrainingSystem, use_best: bool) -> dict[str, float] | None:
    """The history row of the epoch whose weights were tested: the best-validation one with a
    checkpoint, else the last."""
    if use_best:
        return system.best_epoch()
    return system.history[-1] if system.history else None


def _row_metrics(system: TrainingSystem, test: Mapping[str, float], tc: Any,
                 tested: Mapping[str, float] | None) -> dict[str, Any]:
    best = tested or {}
    times = [r["epoch_time_s"] for r in system.history if "epoch_time_s" in r]
    metrics: dict[str, Any] = {k: v for k, v in best.items() if k.startswith("val/")}
    metrics.update({k: float(v) for k, v in test.items() if k.startswith("test/")})
    if isinstance(system, ImageClassifier):
        metrics.setdefault("val/acc", None)
        selected = [r["test_epoch/acc"] for r in system.selectable() if "test_epoch/acc" in r]
        # the per-epoch test pass runs as a second validation loader: limit_val_batches cuts it
        whole = tc.limit_val_batches in (1, 1.0)
        metrics["test_selected/acc"] = (max(selected) if tc.test_every_epoch and selected
                                        and whole else None)
    metrics["epoch_time_s"] = sum(times) / len(times) if times else None
    return metrics


def train(
    cfg: ExperimentConfig,
    *,
    results_dir: Path,
    extra_callbacks: Sequence[pl.Callback] = (),
    resume: bool = False,
    record: bool = True,
    run_dir: Path | None = None,
    progress_bar: bool | None = None,
    trial_attrs: Mapping[str, Any] | None = None,
) -> RunResult:
    """Train ``cfg`` and (if ``record``) append its row to ``runs.jsonl``.

    Args:
        cfg: The resolved experiment.
        results_dir: Root of every written file.
        extra_callbacks: More Lightning callbacks (e.g. Optuna's pruning callback). When one
            sets ``trainer.should_stop`` the run ends normally with status ``stopped``.
        resume: Continue ``run_dir`` from its ``last.ckpt`` (epoch count continues).
        record: Append the row to ``<results_dir>/<datamodule>/runs.jsonl``.
        run_dir: Use this run directory instead of a fresh one (required with ``resume``).
        progress_bar: Force the Rich progress bar on/off; ``None``: config and whether stdout
            is a terminal.
        trial_attrs: Search-trial attributes stored in the row's ``trial`` field.

    Returns:
        A :class:`RunResult` with the row, flat metrics, epochs run and the best model.

    Raises:
        ValueError: for ``resume`` without a run directory holding ``last.ckpt``.
        DataUnavailableError: when the data is missing and cannot be fetched.
    """
    quiet_lightning()
    results_dir = Path(results_dir)
    ckpt_path = checkpoint_to_resume(resume, run_dir)
    check_loggers(cfg.trainer.loggers)  # a missing extra stops before anything is written
    check_writable(results_dir)
    started = time.perf_counter()
    code = code_version()  # when the run starts: later edits do not change what it ran
    resolved = to_dict(cfg)  # the config's plain form and hash, computed once, passed on
    ident = RunIdentity(cfg, resolved, config_hash(resolved))
    with _restore_global_state():
        parts = build_parts(cfg)
        files = open_run_files(ident, results_dir, run_dir, resume=resume)
        trainer = build_trainer(ident, parts, files.run_dir, results_dir,
                                [*extra_callbacks, files.ctrl_c],
                                show=show_progress(cfg, progress_bar), trial_attrs=trial_attrs)
        device = trainer.strategy.root_device
        env = write_env(ident, trainer, device, files.run_dir, code)
        fitted = fit_and_test(cfg, parts, trainer, files, ckpt_path, trial=trial_attrs is not None)
        if trainer.is_global_zero and files.earlier_csv.is_file():
            merge_csv(files.earlier_csv, files.run_dir / "metrics.csv")
    model = parts.system.model.eval()
    row = build_row(ident, parts, fitted, model, env, device=device, code=code.to_dict(),
                    run_dir=files.run_dir, results_dir=results_dir, started=started,
                    trial_attrs=trial_attrs)
    if record and trainer.is_global_zero:
        append_row(results_dir / cfg.results_group / "runs.jsonl", row)
    flat = {k: float(v) for k, v in row["metrics"].items() if v is not None and math.isfinite(v)}
    return RunResult(run_dir=files.run_dir, row=row, metrics=flat, epochs_run=fitted.epochs_run,
                     model=model, is_global_zero=trainer.is_global_zero)


# --------------------------------------------------------------------------- train's steps


@dataclass
class RunParts:
    """What :func:`build_parts` builds from the config before any file is written."""

    configured: list[pl.Callback]  # the config's trainer.callbacks
    select_from: int  # first epoch of the final stage (0 without a stage schedule)
    datamodule: Any
    params_built: int
    system: TrainingSystem


@dataclass
class Fitted:
    """What :func:`fit_and_test` returns: how the fit ended and the test metrics."""

    epochs_run: int
    stopped: bool
    use_best: bool
    ending: dict[str, Any]
    test: list[Mapping[str, float]]


def checkpoint_to_resume(resume: bool, run_dir: Path | None) -> Path | None:
    """``run_dir/last.ckpt`` with ``resume``, else ``None``.

    Raises:
        InputError: ``resume`` without a run directory holding ``last.ckpt``.
    """
    if not resume:
        return None
    if run_dir is None or not (Path(run_dir) / "last.ckpt").is_file():
        raise InputError(
            f"`resume` needs a run directory with last.ckpt, but got run_dir={run_dir}."
        )
    return Path(run_dir) / "last.ckpt"


def build_parts(cfg: ExperimentConfig) -> RunParts:
    """Seed, then build callbacks, data (prepared, set up), model and system, and check them.

    The order is the one the pinned runs fix (each step draws from the seeded generators).
    """
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    configured: list[pl.Callback] = []
    for i, spec in enumerate(cfg.trainer.callbacks):
        with config_errors(f"trainer.callbacks.{i}"):
            configured.append(spec.build(CALLBACKS))
    select_from = selection_start(configured, cfg.trainer.max_epochs)
    datamodule: Any = build_datamodule(cfg)
    with config_errors("data"):  # fail early (missing data, bad split) before a run dir
        datamodule.prepare_data()
        datamodule.setup("fit")
    model = build_model(cfg)
    params_built = count_params(model)
    check_trainer(cfg)
    check_model_on(cfg, datamodule, model)
    system = build_system(cfg, model, datamodule)
    system.select_from = select_from
    return RunParts(configured, select_from, datamodule, params_built, system)


def show_progress(cfg: ExperimentConfig, progress_bar: bool | None) -> bool:
    """The Rich progress bar: ``progress_bar`` if given, else the config's and a terminal."""
    return bool(cfg.trainer.progress_bar and sys.stdout.isatty()
                if progress_bar is None else progress_bar)


def build_trainer(ident: RunIdentity, parts: RunParts, run_dir: Path, results_dir: Path,
                  extra: Sequence[pl.Callback], *, show: bool,
                  trial_attrs: Mapping[str, Any] | None) -> pl.Trainer:
    """The Lightning Trainer of the run: its loggers, callbacks and trainer settings."""
    cfg, tc = ident.cfg, ident.cfg.trainer
    if tc.test_every_epoch:
        parts.datamodule.test_in_val = True
    loggers = build_loggers(
        tc.loggers, run_dir=run_dir, results_dir=results_dir,
        experiment=str((trial_attrs or {}).get("study") or cfg.results_group),
        tags={"config_hash": ident.config_hash, "seed": cfg.seed,
              **({"trial": trial_attrs.get("number")} if trial_attrs else {})},
    )
    trainer = pl.Trainer(
        max_epochs=tc.max_epochs,
        accelerator=tc.accelerator,
        devices=tc.devices,
        strategy=tc.strategy,
        precision=tc.precision,  # type: ignore[arg-type]
        deterministic=_deterministic(tc.deterministic, tc.accelerator),
        gradient_clip_val=tc.gradient_clip_val,
        limit_train_batches=tc.limit_train_batches,
        limit_val_batches=tc.limit_val_batches,
        log_every_n_steps=tc.log_every_n_steps,
        logger=loggers,
        callbacks=_callbacks(ident, parts.configured, parts.system, run_dir, show, extra),
        enable_checkpointing=tc.checkpoint,
        enable_progress_bar=show,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=run_dir,
    )
    make_lean(trainer)  # Lightning's per-step dispatch without no-op work (lean_hooks.py)
    epoch_step.enable(parts.system, trainer)  # one Lightning step per epoch where exact
    return trainer


def write_env(ident: RunIdentity, trainer: pl.Trainer, device: torch.device, run_dir: Path,
              code: CodeVersion) -> dict[str, Any]:
    """``env.json`` (rank 0 only): seed, config hash, provenance, versions, device, CPU."""
    env = {
        "seed": ident.cfg.seed,
        "config_hash": ident.config_hash,
        **code.to_dict(),
        "versions": versions(),
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "cpu_capability": machine()["cpu_capability"],
        "platform": platform.platform(),
        "argv": sys.argv,
    }
    if trainer.is_global_zero:
        (run_dir / "env.json").write_text(json.dumps(env, indent=2, default=str))
    return env


def fit_and_test(cfg: ExperimentConfig, parts: RunParts, trainer: pl.Trainer, files: RunFiles,
                 ckpt_path: Path | None, *, trial: bool) -> Fitted:
    """Fit, then test once (the best checkpoint if there is one), under the Ctrl-C handler.

    Raises:
        RunPruned: a pruning callback stopped the run (no record).
        Diverged: a NaN loss (a fresh run directory is removed).
        KeyboardInterrupt: Ctrl-C, saying how to resume (see :func:`interrupted`).
    """
    tc, system, datamodule = cfg.trainer, parts.system, parts.datamodule
    previous_handler = files.ctrl_c.install()
    try:
        with ranks_share(files.run_dir):
            trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path)
        pruned = pruned_epoch(trainer)
        if pruned is not None:  # a PruningCallback stopped it: no record
            raise RunPruned(pruned)
        spawned = str(tc.strategy) in SPAWNED
        if spawned:
            history_from_ranks(system, files.run_dir)
        epochs_run = (max((int(r["epoch"]) for r in system.history), default=-1) + 1
                      if spawned else int(trainer.current_epoch))
        stopped = trainer.should_stop or epochs_run < tc.max_epochs
        datamodule.test_in_val = False
        best_path = getattr(trainer.checkpoint_callback, "best_model_path", "")
        use_best = tc.checkpoint and bool(best_path)
        history = list(system.history)  # loading best.ckpt would truncate it
        ending = run_ending(trainer, system, history, tc)  # before best.ckpt's callback state
        tester = one_device_tester(tc) if spawned else trainer
        with warnings.catch_warnings():  # the tester needs none of the fit's callbacks
            warnings.filterwarnings("ignore", "Be aware that when using `ckpt_path`")
            test = tester.test(system, datamodule=datamodule, verbose=False,
                               ckpt_path=(best_path if spawned else "best") if use_best
                               else None)
    except Diverged:
        if files.created:  # nothing of a diverged run is a result
            drop_run_dir(files.run_dir)
        raise
    except (KeyboardInterrupt, SystemExit) as exc:
        # Lightning turns Ctrl-C into sys.exit(1) after ignoring further SIGINTs.
        if isinstance(exc, SystemExit) and not trainer.interrupted:
            raise
        raise interrupted(files.run_dir, created=files.created, trial=trial) from None
    finally:
        files.ctrl_c.restore(previous_handler)
    system.history = history
    return Fitted(epochs_run, stopped, use_best, ending, list(test))


def build_row(ident: RunIdentity, parts: RunParts, fitted: Fitted, model: nn.Module,
              env: Mapping[str, Any], *, device: torch.device, code: Mapping[str, Any],
              run_dir: Path,
              results_dir: Path, started: float,
              trial_attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``runs.jsonl`` row: config, metrics, sizes, FLOPs, latency, timing, provenance."""
    cfg, tc, system = ident.cfg, ident.cfg.trainer, parts.system
    best = _tested_epoch(system, fitted.use_best)
    metrics = _row_metrics(system, fitted.test[0] if fitted.test else {}, tc, best)
    dims = tuple(getattr(parts.datamodule, "dims", ()))
    example = torch.zeros(1, *dims, device=device) if dims else None
    try:
        rel = str(run_dir.resolve().relative_to(results_dir.resolve()))
    except ValueError:
        rel = str(run_dir)
    ending = fitted.ending
    row: dict[str, Any] = {
        "config_hash": ident.config_hash,
        "name": cfg.name,
        "benchmark": cfg.results_group,
        "seed": cfg.seed,
        "config": ident.resolved,
        "metrics": metrics,
        "best_epoch": int(best["epoch"]) if best else None,
        "epochs": fitted.epochs_run,
        "params": count_params(model),
        "params_built": parts.params_built,
        "selected_from_epoch": parts.select_from,
        "flops": matmul_flops(model, example) if example is not None else None,
        "latency_ms": None,
        "wall_time_s": time.perf_counter() - started,
        "device": env["device"],
        "threads": env["threads"],  # CPU float rounding depends on it: part of bit-for-bit
        "cpu_capability": env["cpu_capability"],  # and on the instruction set (AVX2, AVX512)
        **ending,  # converged, stop_reason, max_epochs, stopped_epoch, steps, step_time_s, ...
        **code,
        "versions": env["versions"],
        "run_dir": rel,
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        # a plateau stop is the protocol finishing (kanlab reproduce counts it as done)
        "status": ("stopped" if fitted.stopped and ending["stop_reason"] != "plateau"
                   else "completed"),
        "trial": dict(trial_attrs) if trial_attrs is not None else None,
    }
    if example is not None:
        batch = torch.zeros(int(getattr(parts.datamodule, "batch_size", 1)), *dims,
                            device=device)
        row["latency_ms"] = latency_ms(model, batch, repeats=10, warmup=2)
    return row


# --------------------------------------------------------------------------- reload


def load_run(run_dir: str | Path) -> tuple[ExperimentConfig, nn.Module]:
    """A run's config and its model with the best weights (``last.ckpt`` if there is no best).

    Raises:
        ValueError: if ``run_dir`` has no ``config.yaml`` or no checkpoint.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise InputError(f"`run_dir` must hold config.yaml, but got run_dir={str(run_dir)!r}.")
    cfg = load_experiment(run_dir / "config.yaml")
    ckpt = next((run_dir / n for n in ("best.ckpt", "last.ckpt") if (run_dir / n).is_file()), None)
    if ckpt is None:
        raise InputError(f"`run_dir` must hold best.ckpt or last.ckpt, but got {str(run_dir)!r}.")
    model = build_model(cfg)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    model.load_state_dict(weights)
    return cfg, model.eval()
