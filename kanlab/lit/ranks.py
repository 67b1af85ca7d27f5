"""Training on several devices: what rank 0 shares with the ranks Lightning starts.

``ddp`` re-runs the command line once per rank: :func:`ranks_share` hands them rank 0's run
directory (:func:`launched_rank_run_dir` finds it). ``ddp_spawn``/``ddp_fork`` run the epochs in
child processes (:data:`SPAWNED`): :func:`history_from_ranks` brings the per-epoch history back
and :func:`one_device_tester` tests in this process on one device.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from kanlab import settings
from kanlab.config import SPAWNED_STRATEGIES
from kanlab.lit._system import TrainingSystem

__all__ = ["SPAWNED", "history_from_ranks", "launched_rank_run_dir", "one_device_tester",
           "ranks_share"]

SPAWNED = SPAWNED_STRATEGIES  # ranks in child processes, rank 0 too


def history_from_ranks(system: TrainingSystem, run_dir: Path) -> None:
    """After ``ddp_spawn`` (or ``ddp_fork``) the epochs ran in child processes: Lightning
    returns rank 0's weights, best checkpoint and metrics, not the system's per-epoch
    history, which comes back here from ``last.ckpt`` (it holds the history)."""
    last = run_dir / "last.ckpt"
    if last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=False)
        system.history = list(state.get("kanlab_history", []))


def one_device_tester(tc: Any) -> pl.Trainer:
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
def ranks_share(run_dir: Path) -> Iterator[None]:
    """While fitting, the ranks that Lightning's ``ddp`` starts (each re-runs the command
    line, so each calls :func:`kanlab.lit.train.train`) find rank 0's run directory in their
    environment instead of creating their own; only rank 0 writes ``env.json`` and the row."""
    previous = os.environ.get(_RUN_DIR_ENV)
    os.environ[_RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_RUN_DIR_ENV, None)
        else:
            os.environ[_RUN_DIR_ENV] = previous


def launched_rank_run_dir() -> Path | None:
    """Rank 0's run directory in a rank that Lightning's ``ddp`` launched, else ``None``."""
    shared = settings.ddp_run_dir()
    if shared and int(os.environ.get("LOCAL_RANK", "0") or 0) > 0:
        return shared
    return None
