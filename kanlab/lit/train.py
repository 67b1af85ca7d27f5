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
of kanlab/ at HEAD) and ``git_dirty`` (uncommitted changes in kanlab/ when the run started).
Staged training (:mod:`kanlab.lit.staged`): with a stage schedule among the callbacks, the
best checkpoint and the test-selected accuracy come from the final stage's epochs only;
``params`` counts the deployed (e.g. pruned) model and ``params_built`` the model as built.
How the run ended (:mod:`kanlab.lit.ending`): ``converged``, ``stop_reason``, ``max_epochs``,
``stopped_epoch``, ``steps``, ``step_time_s`` and the validation curve (``convergence``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import logging
import math
import os
import platform
import shlex
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, cast

import lightning.pytorch as pl
import torch
from filelock import FileLock
from lightning.pytorch.callbacks import RichProgressBar
from torch import nn

from kanlab import _sigint as sigint
from kanlab import settings
from kanlab.config import (
    ConfigError,
    ExperimentConfig,
    config_errors,
    config_hash,
    dump_yaml,
    load_experiment,
    to_dict,
)
from kanlab.errors import InputError, SetupError
from kanlab.lit._system import TrainingSystem
from kanlab.lit.classifier import ImageClassifier
from kanlab.lit.diverged import Diverged, StopOnDivergence
from kanlab.lit.ending import StepTimer, run_ending
from kanlab.lit.lean_hooks import make_lean
from kanlab.lit.loggers import build_loggers, check_loggers
from kanlab.lit.pruning import RunPruned, pruned_epoch
from kanlab.lit.regressor import FunctionRegressor
from kanlab.lit.staged import FinalStageCheckpoint, FinalStageEarlyStopping, selection_start
from kanlab.measure import count_params, latency_ms, matmul_flops
from kanlab.paths import check_writable
from kanlab.provenance import code_version
from kanlab.registry import CALLBACKS, DATAMODULES, MODELS

__all__ = [
    "RunResult",
    "append_row",
    "build_datamodule",
    "build_model",
    "build_system",
    "load_run",
    "preflight",
    "quiet_lightning",
    "train",
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


def check_forward(cfg: ExperimentConfig, model: nn.Module, dims: Sequence[int]) -> None:
    """Run ``model`` once on a zero batch ``(2, *dims)`` in eval mode, without gradients.

    Catches what only a forward pass shows (a top-k ``k`` above the layer width, widths that
    do not match the data) before a run directory exists. Eval mode leaves running
    statistics (batch norm, EAFO) untouched.

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
    classes = int(getattr(DATAMODULES.get(str(cfg.data.name)), "num_classes", 0) or 0)
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
    dm = datamodule if datamodule is not None else build_datamodule(cfg)
    dims = tuple(getattr(dm, "dims", ()) or ())
    if dims:
        check_forward(cfg, build_model(cfg), dims)


# --------------------------------------------------------------------------- records


def append_row(path: Path, row: Mapping[str, Any]) -> None:
    """Append one JSON line under a file lock, so concurrent writers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(row, default=str, allow_nan=True) + "\n"
    with FileLock(str(path) + ".lock"), open(path, "ab+") as f:
        size = f.seek(0, os.SEEK_END)
        if size:  # a row cut short before (no final newline) stays on its own line
            f.seek(size - 1)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def _new_run_dir(results_dir: Path, cfg: ExperimentConfig) -> Path:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    leaf = f"{cfg.name}-{config_hash(cfg)}-s{cfg.seed}-{stamp}"
    base = results_dir / cfg.results_group / "runs" / leaf
    for i in range(1000):
        path = base if i == 0 else base.with_name(f"{base.name}-{i}")
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"Could not create a fresh run directory next to {base}.")


def _merge_csv(earlier: Path, path: Path) -> None:
    """Put the rows of an interrupted run's ``metrics.csv`` before the resumed run's rows."""
    tables = []
    for source in (earlier, path):
        if source.is_file():
            with open(source, newline="") as f:
                tables.append(list(csv.DictReader(f)))
    columns = sorted({key for rows in tables for row in rows for key in row})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for rows in tables:
            writer.writerows(rows)
    earlier.unlink()


class _ConfigInCheckpoint(pl.Callback):
    """Store the resolved config in every checkpoint (checkpoints are state + config)."""

    def __init__(self, cfg: ExperimentConfig) -> None:
        self.config = to_dict(cfg)
        self.hash = config_hash(cfg)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["kanlab_config"] = self.config
        checkpoint["kanlab_config_hash"] = self.hash


class _RNGInCheckpoint(pl.Callback):
    """The random-number state in every checkpoint, restored when a resumed fit starts.

    A resumed run then draws the shuffle order (each epoch's training iterator draws its
    permutation from torch's global generator) and any dropout masks the uninterrupted run
    would have drawn; ``seed_everything`` alone restarts the stream from the seed, so the first
    resumed epoch replayed epoch 0's order. Restored at fit start and again after a sanity
    check (whose loaders draw too), before Lightning creates the training iterator.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        import random

        import numpy as np

        name, keys, pos, has_gauss, cached = tuple(np.random.get_state())
        # tensors and plain values only: checkpoints load with torch.load(weights_only=True)
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss,
                      cached],
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()  # the sanity check's loaders drew from the restored stream

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pending = None

    def _restore(self) -> None:
        if self._pending is None:
            return
        import random

        import numpy as np

        state = self._pending
        torch.set_rng_state(state["torch"])
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- train


def _callbacks(
    cfg: ExperimentConfig,
    configured: list[pl.Callback],
    system: TrainingSystem,
    run_dir: Path,
    show_progress: bool,
    extra: Sequence[pl.Callback],
) -> list[pl.Callback]:
    tc = cfg.trainer
    callbacks: list[pl.Callback] = list(configured)
    callbacks.append(_ConfigInCheckpoint(cfg))
    callbacks.append(StopOnDivergence())  # a NaN loss fails the run (kanlab/lit/diverged.py)
    callbacks.append(_RNGInCheckpoint())
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
    ckpt_path: Path | None = None
    if resume:
        if run_dir is None or not (Path(run_dir) / "last.ckpt").is_file():
            raise InputError(
                f"`resume` needs a run directory with last.ckpt, but got run_dir={run_dir}."
            )
        ckpt_path = Path(run_dir) / "last.ckpt"
    check_loggers(cfg.trainer.loggers)  # a missing extra stops before anything is written
    check_writable(results_dir)
    started = time.perf_counter()
    code = code_version()  # when the run starts: later edits do not change what it ran
    with _restore_global_state():
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
        dims = tuple(getattr(datamodule, "dims", ()) or ())
        if dims:
            check_forward(cfg, model, dims)
        system = build_system(cfg, model, datamodule)
        system.select_from = select_from
        created = run_dir is None
        if run_dir is None:
            run_dir = _launched_rank_run_dir() or _new_run_dir(results_dir, cfg)
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(dump_yaml(cfg))
        earlier_csv = run_dir / "metrics.before-resume.csv"
        if resume and (run_dir / "metrics.csv").is_file():
            (run_dir / "metrics.csv").replace(earlier_csv)
        tc = cfg.trainer
        ctrl_c = _CtrlC()
        if tc.test_every_epoch:
            datamodule.test_in_val = True
        show = tc.progress_bar and sys.stdout.isatty() if progress_bar is None else progress_bar
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
            logger=build_loggers(
                cfg.trainer.loggers, run_dir=run_dir, results_dir=results_dir,
                experiment=str((trial_attrs or {}).get("study") or cfg.results_group),
                tags={"config_hash": config_hash(cfg), "seed": cfg.seed,
                      **({"trial": trial_attrs.get("number")} if trial_attrs else {})},
            ),
            callbacks=_callbacks(cfg, configured, system, run_dir, bool(show),
                                 [*extra_callbacks, ctrl_c]),
            enable_checkpointing=tc.checkpoint,
            enable_progress_bar=bool(show),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=run_dir,
        )
        make_lean(trainer)  # Lightning's per-step dispatch without no-op work (lean_hooks.py)
        device = trainer.strategy.root_device
        env = {
            "seed": cfg.seed,
            "config_hash": config_hash(cfg),
            **code.to_dict(),
            "versions": versions(),
            "device": device_name(device),
            "threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "argv": sys.argv,
        }
        if trainer.is_global_zero:
            (run_dir / "env.json").write_text(json.dumps(env, indent=2, default=str))
        previous_handler = ctrl_c.install()
        try:
            with _ranks_share(run_dir):
                trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path)
            if pruned_epoch(trainer) is not None:  # a PruningCallback stopped it: no record
                raise RunPruned(cast(int, pruned_epoch(trainer)))
            spawned = str(tc.strategy) in _SPAWNED
            if spawned:
                _history_from_ranks(system, run_dir)
            epochs_run = (max((int(r["epoch"]) for r in system.history), default=-1) + 1
                          if spawned else int(trainer.current_epoch))
            stopped = trainer.should_stop or epochs_run < tc.max_epochs
            datamodule.test_in_val = False
            best_path = getattr(trainer.checkpoint_callback, "best_model_path", "")
            use_best = tc.checkpoint and bool(best_path)
            history = list(system.history)  # loading best.ckpt would truncate it
            ending = run_ending(trainer, system, history, tc)  # before best.ckpt's callback state
            tester = _one_device_tester(tc) if spawned else trainer
            with warnings.catch_warnings():  # the tester needs none of the fit's callbacks
                warnings.filterwarnings("ignore", "Be aware that when using `ckpt_path`")
                test = tester.test(system, datamodule=datamodule, verbose=False,
                                   ckpt_path=(best_path if spawned else "best") if use_best
                                   else None)
        except Diverged:
            if created:  # nothing of a diverged run is a result
                _drop_run_dir(run_dir)
            raise
        except (KeyboardInterrupt, SystemExit) as exc:
            # Lightning turns Ctrl-C into sys.exit(1) after ignoring further SIGINTs.
            if isinstance(exc, SystemExit) and not trainer.interrupted:
                raise
            raise _interrupted(run_dir, created=created, trial=trial_attrs is not None) from None
        finally:
            ctrl_c.restore(previous_handler)
        system.history = history
        if trainer.is_global_zero and earlier_csv.is_file():
            _merge_csv(earlier_csv, run_dir / "metrics.csv")
    best = _tested_epoch(system, use_best)
    metrics = _row_metrics(system, test[0] if test else {}, tc, best)
    model = system.model.eval()
    dims = tuple(getattr(datamodule, "dims", ()))
    example = torch.zeros(1, *dims, device=device) if dims else None
    try:
        rel = str(run_dir.resolve().relative_to(results_dir.resolve()))
    except ValueError:
        rel = str(run_dir)
    row: dict[str, Any] = {
        "config_hash": config_hash(cfg),
        "name": cfg.name,
        "benchmark": cfg.results_group,
        "seed": cfg.seed,
        "config": to_dict(cfg),
        "metrics": metrics,
        "best_epoch": int(best["epoch"]) if best else None,
        "epochs": epochs_run,
        "params": count_params(model),
        "params_built": params_built,
        "selected_from_epoch": select_from,
        "flops": matmul_flops(model, example) if example is not None else None,
        "latency_ms": None,
        "wall_time_s": time.perf_counter() - started,
        "device": env["device"],
        "threads": env["threads"],  # CPU float rounding depends on it: part of bit-for-bit
        **ending,  # converged, stop_reason, max_epochs, stopped_epoch, steps, step_time_s, ...
        **code.to_dict(),
        "versions": env["versions"],
        "run_dir": rel,
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        # a plateau stop is the protocol finishing (kanlab reproduce counts it as done)
        "status": "stopped" if stopped and ending["stop_reason"] != "plateau" else "completed",
        "trial": dict(trial_attrs) if trial_attrs is not None else None,
    }
    if example is not None:
        batch = torch.zeros(int(getattr(datamodule, "batch_size", 1)), *dims, device=device)
        row["latency_ms"] = latency_ms(model, batch, repeats=10, warmup=2)
    flat = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
    if record and trainer.is_global_zero:
        append_row(results_dir / cfg.results_group / "runs.jsonl", row)
    return RunResult(run_dir=run_dir, row=row, metrics=flat, epochs_run=epochs_run, model=model,
                     is_global_zero=trainer.is_global_zero)


_SPAWNED = ("ddp_spawn", "ddp_fork", "ddp_notebook")  # ranks in child processes, rank 0 too


def _history_from_ranks(system: TrainingSystem, run_dir: Path) -> None:
    """After ``ddp_spawn`` (or ``ddp_fork``) the epochs ran in child processes: Lightning
    returns rank 0's weights, best checkpoint and metrics, not the system's per-epoch
    history, which comes back here from ``last.ckpt`` (it holds the history)."""
    last = run_dir / "last.ckpt"
    if last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=False)
        system.history = list(state.get("kanlab_history", []))


def _one_device_tester(tc: Any) -> pl.Trainer:
    """A Trainer on the first of ``tc.devices`` that tests in this process: after
    ``ddp_spawn`` this spares a second start of every rank, and one device sees each test
    sample exactly once (a DistributedSampler pads uneven splits with repeats)."""
    devices: Any = tc.devices
    if isinstance(devices, str) and "," in devices:
        devices = devices.split(",")[0].strip() + ","
    elif isinstance(devices, (list, tuple)):
        devices = [devices[0]]
    else:
        devices = 1
    return pl.Trainer(accelerator=tc.accelerator, devices=devices, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, precision=tc.precision)


_RUN_DIR_ENV = settings.DDP_RUN_DIR  # rank 0 -> the ranks Lightning's `ddp` launches


@contextlib.contextmanager
def _ranks_share(run_dir: Path) -> Iterator[None]:
    """While fitting, the ranks that Lightning's ``ddp`` starts (each re-runs the command
    line, so each calls :func:`train`) find rank 0's run directory in their environment
    instead of creating their own; only rank 0 writes ``env.json`` and the row."""
    previous = os.environ.get(_RUN_DIR_ENV)
    os.environ[_RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_RUN_DIR_ENV, None)
        else:
            os.environ[_RUN_DIR_ENV] = previous


def _launched_rank_run_dir() -> Path | None:
    """Rank 0's run directory in a rank that Lightning's ``ddp`` launched, else ``None``."""
    shared = settings.ddp_run_dir()
    if shared and int(os.environ.get("LOCAL_RANK", "0") or 0) > 0:
        return shared
    return None


class _CtrlC(pl.Callback):
    """Ctrl-C stops training even when Python swallows the ``KeyboardInterrupt``.

    The default handler raises wherever the main thread is; inside a weakref or ``__del__``
    callback (frequent while tensors are freed) the exception is printed and ignored, and
    the run goes on. This handler also records the request, and the next batch end raises.
    """

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> Any:
        """Set the handler (main thread only); return the previous one for :meth:`restore`."""
        if threading.current_thread() is not threading.main_thread():
            return None
        return signal.signal(signal.SIGINT, self._handle)

    def restore(self, previous: Any) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        sigint.note()  # a search notices it after the trial even if this one is swallowed
        raise KeyboardInterrupt

    def _check(self, *args: Any, **kwargs: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt

    on_train_batch_end = on_validation_batch_end = on_test_batch_end = _check


def _drop_run_dir(run_dir: Path) -> None:
    """Remove a fresh run directory, and its ``runs/`` and benchmark folders if now empty."""
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in (run_dir.parent, run_dir.parent.parent):
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def _interrupted(run_dir: Path, *, created: bool, trial: bool = False) -> KeyboardInterrupt:
    """Ctrl-C during fit or test: keep a resumable run dir, drop one without a checkpoint.

    A search trial's run directory is always dropped: the study reruns the trial afresh.
    """
    import shutil

    if trial and created:
        _drop_run_dir(run_dir)
        return KeyboardInterrupt("interrupted — its partial run directory was removed")
    if (run_dir / "last.ckpt").is_file():
        return KeyboardInterrupt(
            f"interrupted — resume with: kanlab train --resume {shlex.quote(str(run_dir))}"
        )
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
    return KeyboardInterrupt("interrupted — rerun the same command to start again")


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
