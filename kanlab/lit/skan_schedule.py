"""Training callback: move S-KAN models through the full -> selective -> pruned stages."""

from __future__ import annotations

import logging

import lightning.pytorch as pl

from kanlab.capabilities import Staged
from kanlab.checks import check_at_least
from kanlab.registry import CALLBACKS

__all__ = ["SKANSchedule"]

logger = logging.getLogger(__name__)


@CALLBACKS.register("skan_schedule", example_hparams={"selective_epoch": 1})
class SKANSchedule(pl.Callback):
    """Switch an S-KAN model's stage at fixed epochs and re-create the optimiser.

    Stage at epoch e: ``full`` before ``selective_epoch``, ``selective`` from it, ``pruned``
    from ``pruned_epoch`` on. The stage is taken before the first batch of each epoch, so a
    resumed run lands in the right stage. A stage change alters the parameter set, so the
    optimiser (and scheduler, which restarts from the configured lr) is rebuilt through
    ``trainer.strategy.setup_optimizers``.

    The schedule is a :class:`~kanlab.lit.staged.StageSchedule`: its ``final_stage_epoch``
    (``pruned_epoch``, or ``selective_epoch`` when it never prunes) is where checkpoint
    selection starts, so the model that is tested and reported is the pruned one, and
    training refuses a final stage that starts at or after ``trainer.max_epochs``.

    Args:
        selective_epoch: First epoch of the selective stage.
        pruned_epoch: First epoch of the pruned stage (``None``: never prune).

    Raises:
        ValueError: for a negative epoch, ``pruned_epoch <= selective_epoch``, or (at fit start)
            a model without ``to_stage``.
    """

    def __init__(self, *, selective_epoch: int, pruned_epoch: int | None = None) -> None:
        check_at_least("selective_epoch", selective_epoch, 0)
        if pruned_epoch is not None and pruned_epoch <= selective_epoch:
            raise ValueError(
                "`pruned_epoch` must be > selective_epoch, but got "
                f"pruned_epoch={pruned_epoch} (selective_epoch={selective_epoch})."
            )
        self.selective_epoch = selective_epoch
        self.pruned_epoch = pruned_epoch

    @property
    def final_stage_epoch(self) -> int:
        """First epoch of the last stage this schedule reaches."""
        return self.pruned_epoch if self.pruned_epoch is not None else self.selective_epoch

    def stage_at(self, epoch: int) -> str:
        """The stage the schedule prescribes for ``epoch``."""
        if self.pruned_epoch is not None and epoch >= self.pruned_epoch:
            return "pruned"
        return "selective" if epoch >= self.selective_epoch else "full"

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not isinstance(pl_module.model, Staged):
            raise ValueError(
                f"`skan_schedule` needs a model with to_stage(stage), but got "
                f"{type(pl_module.model).__name__}."
            )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        model = pl_module.model
        assert isinstance(model, Staged)  # checked at fit start
        target = self.stage_at(trainer.current_epoch)
        if model.stage == target:
            return
        logger.info("epoch %d: S-KAN stage %s -> %s", trainer.current_epoch, model.stage, target)
        model.to_stage(target)
        trainer.strategy.setup_optimizers(trainer)
