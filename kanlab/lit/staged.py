"""Training in stages: the reported model comes from the final stage.

A layer trained in stages (S-KAN: full -> selective -> pruned) is only what its paper means
once the schedule has run to the end: the deployed model is the final stage's. So checkpoint
selection (the best-validation checkpoint that is tested and reported, and the
"test-selected" column) considers only the epochs of the final stage, and early stopping
neither watches nor stops before it (an earlier stage's better validation score would
otherwise end the run before the final stage is reached).

Any training callback that moves a model through stages declares where its final stage starts
by implementing :class:`StageSchedule` (a ``final_stage_epoch`` attribute, 0-based); the
training loop reads it from every callback, so a new staged layer needs no change here.
:func:`selection_start` validates that the final stage fits the epoch budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from kanlab.errors import ConfigError

__all__ = ["FinalStageCheckpoint", "FinalStageEarlyStopping", "StageSchedule", "selection_start"]


@runtime_checkable
class StageSchedule(Protocol):
    """A callback that changes the model's training stage at fixed epochs."""

    @property
    def final_stage_epoch(self) -> int:
        """First (0-based) epoch of the final stage."""
        ...


def selection_start(callbacks: Iterable[Any], max_epochs: int) -> int:
    """First epoch checkpoint selection may pick: the latest final-stage start (0: no stages).

    Raises:
        ConfigError: when a final stage starts at or after ``max_epochs`` (it would never be
            trained, so the reported model would not be the staged one).
    """
    start = 0
    for cb in callbacks:
        if not isinstance(cb, StageSchedule):
            continue
        epoch = int(cb.final_stage_epoch)
        if epoch >= max_epochs:
            raise ConfigError(
                f"`trainer.callbacks` {type(cb).__name__}'s final stage must start before "
                f"trainer.max_epochs={max_epochs} (the reported model comes from it), but got "
                f"final_stage_epoch={epoch}."
            )
        start = max(start, epoch)
    return start


class FinalStageCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose best checkpoint is chosen among epochs >= ``select_from``.

    Before ``select_from`` no epoch counts as an improvement, so the first final-stage epoch
    is saved as the best and later final-stage epochs compete with it only.
    """

    def __init__(self, *, select_from: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.select_from = int(select_from)

    def check_monitor_top_k(
        self, trainer: pl.Trainer, current: torch.Tensor | None = None
    ) -> bool:
        if trainer.current_epoch < self.select_from:
            return False
        return bool(super().check_monitor_top_k(trainer, current))


class FinalStageEarlyStopping(EarlyStopping):
    """``EarlyStopping`` that starts watching at epoch ``select_from`` (the final stage)."""

    def __init__(self, *, select_from: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.select_from = int(select_from)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch >= self.select_from:
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch >= self.select_from:
            super().on_validation_end(trainer, pl_module)
