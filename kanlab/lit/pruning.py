"""Pruning a run from outside, on one device or across DDP ranks, without a deadlock.

:class:`PruningCallback` reports the monitored metric after every validation to a ``judge``
(``judge(epoch, value) -> prune?``; :mod:`kanlab.search` passes one that reports to the
Optuna trial and asks its pruner). Only global rank 0 calls the judge; its answer is
broadcast to every rank, and every rank sets ``trainer.should_stop`` at the same epoch end,
so no rank waits in a collective for one that left (raising ``TrialPruned`` inside a DDP
rank deadlocked the others: optuna PR #4305). The decision comes back to the caller as the
``kanlab/pruned_epoch`` entry of ``trainer.callback_metrics``, which Lightning also returns
from ``ddp_spawn``'s rank 0 to the launching process; :func:`kanlab.lit.train.train` then
raises :class:`RunPruned` instead of testing and recording the run.

The metric the judge sees is the global one (the systems' torchmetrics synchronise across
ranks when computed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch

__all__ = ["PRUNED_KEY", "PruningCallback", "RunPruned", "pruned_epoch"]

PRUNED_KEY = "kanlab/pruned_epoch"


class RunPruned(Exception):
    """The run was stopped by its pruning judge after epoch ``epoch`` (nothing recorded)."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"pruned after epoch {epoch}")
        self.epoch = epoch


class PruningCallback(pl.Callback):
    """Ask ``judge(epoch, value)`` on rank 0 after each validation; stop all ranks if it says
    so. ``judge`` must be picklable for ``ddp_spawn`` (it then runs in the spawned rank 0)."""

    def __init__(self, judge: Callable[[int, float], bool], monitor: str) -> None:
        self.judge = judge
        self.monitor = monitor

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None:
            warnings.warn(f"The metric {self.monitor!r} is not logged; cannot prune on it.",
                          stacklevel=2)
            return
        epoch = int(pl_module.current_epoch)
        stop = bool(self.judge(epoch, float(score))) if trainer.is_global_zero else False
        stop = bool(trainer.strategy.broadcast(stop, src=0))
        if stop:
            trainer.should_stop = True
            trainer.callback_metrics[PRUNED_KEY] = torch.tensor(float(epoch))


def pruned_epoch(trainer: pl.Trainer) -> int | None:
    """The epoch after which a :class:`PruningCallback` stopped the run, or ``None``."""
    value: Any = trainer.callback_metrics.get(PRUNED_KEY)
    return None if value is None else int(float(value))
