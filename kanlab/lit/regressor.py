"""FunctionRegressor: the Lightning system for the synthetic function-fitting tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.regression import R2Score

from kanlab.lit._system import TrainingSystem

__all__ = ["FunctionRegressor"]


class FunctionRegressor(TrainingSystem):
    """Mean-squared-error training of a model ``(B, n) -> (B, 1)``; logs MSE and R².

    Logs ``train/loss``, ``val/loss``, ``val/r2``, ``test/loss``, ``test/r2`` (losses are
    sample-weighted MSE), ``lr``, ``params`` and ``epoch_time_s``; the best checkpoint is the
    one with the lowest ``val/loss``. Optimiser, weight decay and regularisation work as in
    :class:`kanlab.lit.classifier.ImageClassifier`.

    Args:
        model: Maps ``(B, n)`` to ``(B, 1)`` (or ``(B,)``).
        optimizer: Key in the ``optimizers`` registry.
        lr: Learning rate.
        weight_decay: Weight decay of the decayed group.
        optimizer_params: Further optimiser keyword arguments.
        scheduler: A ``schedulers`` spec, stepped once per epoch.
        regularization_weight: Weight of the model's ``regularization_loss()`` (0 = off).
        compile_train: Run the training forward through ``torch.compile`` for the first
            training batch's shape (``trainer.compile``; see :class:`TrainingSystem`).

    Raises:
        ValueError: if ``lr <= 0`` or a weight is negative.
    """

    monitor = "val/loss"
    monitor_mode = "min"
    metric_name = "r2"

    def __init__(
        self,
        model: nn.Module,
        *,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer_params: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        regularization_weight: float = 0.0,
        compile_train: bool = False,
    ) -> None:
        super().__init__(
            model,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            optimizer_params=optimizer_params,
            scheduler=scheduler,
            regularization_weight=regularization_weight,
            compile_train=compile_train,
        )
        for stage in self.stages:
            self.metrics[f"{stage}_metric"] = R2Score()

    def _loss_and_outputs(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = batch
        pred = self.net(x)(x).reshape(y.shape)                            # (B, 1)
        return F.mse_loss(pred, y), pred.reshape(-1), y.reshape(-1)      # (B,), (B,)
