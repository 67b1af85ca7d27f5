"""Training callback: refit B-spline KAN grids to the data seen at the start of epochs."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from kanlab.capabilities import GridUpdatable
from kanlab.checks import check_at_least
from kanlab.registry import CALLBACKS

__all__ = ["GridUpdate"]


@CALLBACKS.register("grid_update")
class GridUpdate(pl.Callback):
    """Call ``model.update_grid(x)`` on the first training batch of selected epochs.

    ``x`` is the model's own input batch; the model (e.g. ``kan_mlp``) propagates it through
    its layers. Updates happen at epochs ``0, n, 2n, ...`` below ``until_epoch``.

    Args:
        every_n_epochs: Update every n-th epoch (n >= 1).
        until_epoch: No updates from this epoch on (``None``: all epochs).
        margin: Passed to ``update_grid`` when given (its own default otherwise).

    Raises:
        ValueError: for ``every_n_epochs < 1``, a negative ``until_epoch``, or (at fit start) a
            model without ``update_grid``.
    """

    def __init__(
        self,
        *,
        every_n_epochs: int = 1,
        until_epoch: int | None = None,
        margin: float | None = None,
    ) -> None:
        check_at_least("every_n_epochs", every_n_epochs, 1)
        if until_epoch is not None:
            check_at_least("until_epoch", until_epoch, 0)
        self.every_n_epochs = every_n_epochs
        self.until_epoch = until_epoch
        self.margin = margin
        self.updates = 0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not isinstance(pl_module.model, GridUpdatable):
            raise ValueError(
                f"`grid_update` needs a model with update_grid(x), but got "
                f"{type(pl_module.model).__name__}."
            )

    def _due(self, epoch: int) -> bool:
        if self.until_epoch is not None and epoch >= self.until_epoch:
            return False
        return epoch % self.every_n_epochs == 0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx != 0 or not self._due(trainer.current_epoch):
            return
        x = batch[0]
        kwargs = {} if self.margin is None else {"margin": self.margin}
        model = pl_module.model
        assert isinstance(model, GridUpdatable)  # checked at fit start
        with torch.no_grad():
            model.update_grid(x, **kwargs)
        self.updates += 1
