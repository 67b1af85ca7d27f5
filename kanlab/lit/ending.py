"""How a training run ended: convergence, budget and step cost, recorded in its row.

:func:`run_ending` returns the fields :func:`kanlab.lit.train.train` adds to every
``runs.jsonl`` row:

- ``converged`` (bool): the rule of :mod:`kanlab.convergence` (stopped on a plateau, or ran its
  budget without still improving over its last 20 % of selectable epochs);
- ``stop_reason``: ``plateau`` | ``budget`` | ``diverged`` | ``stopped``;
- ``max_epochs`` (the budget) and ``stopped_epoch`` (the last epoch trained, 0-based);
- ``steps``: optimizer steps taken; ``step_time_s``: the median wall time of one training step
  (batch start to batch end: forward, backward, optimizer step, per-step framework work;
  not data loading), measured by :class:`StepTimer`;
- ``convergence``: ``{monitor, mode, min_delta, tail, curve}``, the monitored validation
  value of every epoch, so the rule can be re-checked from the row alone.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

from kanlab.convergence import TAIL, converged, still_improving

__all__ = ["StepTimer", "run_ending", "stop_reason"]


class StepTimer(pl.Callback):
    """Wall time of every training step (``on_train_batch_start`` to ``_end``)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self.times.append(time.perf_counter() - self._start)

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def stop_reason(trainer: pl.Trainer, max_epochs: int) -> str:
    """``plateau``, ``diverged``, ``budget`` or ``stopped`` (see :mod:`kanlab.convergence`)."""
    for cb in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(cb, EarlyStopping) and cb.stopped_epoch:
            reason = getattr(getattr(cb, "stopping_reason", None), "name", "")
            if reason == "PATIENCE_EXHAUSTED":
                return "plateau"
            if reason == "NON_FINITE_METRIC":
                return "diverged"
            return "stopped"
    return "budget" if trainer.current_epoch >= max_epochs else "stopped"


def run_ending(trainer: pl.Trainer, system: Any, history: Sequence[dict[str, float]],
               tc: Any) -> dict[str, Any]:
    """The row fields listed in the module docstring."""
    reason = stop_reason(trainer, tc.max_epochs)
    curve = [float(r.get(system.monitor, math.nan)) for r in history]
    improving = still_improving(curve, mode=system.monitor_mode, select_from=system.select_from,
                                min_delta=tc.early_stopping_min_delta)
    done = converged(reason, improving)
    timer = next((cb for cb in trainer.callbacks  # type: ignore[attr-defined]
                  if isinstance(cb, StepTimer)), None)
    return {
        "converged": bool(done) if done is not None else False,
        "stop_reason": reason,
        "max_epochs": int(tc.max_epochs),
        "stopped_epoch": int(history[-1]["epoch"]) if history else None,
        "steps": int(trainer.global_step),
        "step_time_s": timer.median if timer is not None else None,
        "convergence": {
            "monitor": system.monitor, "mode": system.monitor_mode,
            "min_delta": float(tc.early_stopping_min_delta), "tail": TAIL,
            "curve": [v if math.isfinite(v) else None for v in curve],
        },
    }
