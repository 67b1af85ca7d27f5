"""ImageClassifier: the Lightning system for image (or any) classification."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from kanlab.lit._system import TrainingSystem
from kanlab.lit.epoch_metrics import EpochAccuracy

__all__ = ["ImageClassifier"]


class ImageClassifier(TrainingSystem):
    """Cross-entropy training of a plain ``nn.Module`` that maps inputs to class logits.

    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/loss``, ``test/acc``
    (torchmetrics ``Metric``s from :mod:`kanlab.lit.epoch_metrics`, so accuracy is
    sample-weighted, not a mean of batch means, at a few tensor ops per step), ``lr``,
    ``params`` and ``epoch_time_s``. Batches from a second validation loader (the test set,
    with ``trainer.test_every_epoch``) are logged as ``test_epoch/*``: recorded for the
    "test-selected" column, never used for model selection.

    Weight decay skips every 1-D parameter and the names of modules' ``no_weight_decay()``.
    When the model has ``regularization_loss()``, ``regularization_weight`` times it is added
    to the training loss.

    Args:
        model: Maps ``(B, ...)`` inputs to ``(B, num_classes)`` logits.
        num_classes: Number of classes.
        optimizer: Key in the ``optimizers`` registry.
        lr: Learning rate.
        weight_decay: Weight decay of the decayed group.
        optimizer_params: Further optimiser keyword arguments (momentum, betas, ...).
        scheduler: A ``schedulers`` spec ``{name: ..., **hp}``, stepped once per epoch.
        regularization_weight: Weight of the model's ``regularization_loss()`` (0 = off).
        compile_train: Run the training forward through ``torch.compile`` for the first
            training batch's shape (``trainer.compile``; see :class:`TrainingSystem`).

    Raises:
        ValueError: if ``lr <= 0``, a weight is negative or ``num_classes < 2``.
    """

    monitor = "val/acc"
    monitor_mode = "max"
    metric_name = "acc"

    def __init__(
        self,
        model: nn.Module,
        *,
        num_classes: int = 10,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer_params: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        regularization_weight: float = 0.0,
        compile_train: bool = False,
    ) -> None:
        if num_classes < 2:
            raise ValueError(f"`num_classes` must be >= 2, but got num_classes={num_classes}.")
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
            self.metrics[f"{stage}_metric"] = EpochAccuracy()

    def _loss_and_outputs(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self.net(x)(x)                                           # (B, num_classes)
        return F.cross_entropy(logits, y), logits, y
