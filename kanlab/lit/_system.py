"""Shared part of the training systems: optimiser/scheduler wiring, history, timing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torchmetrics import Metric

from kanlab.capabilities import NoWeightDecay, Regularized, no_weight_decay
from kanlab.lit.epoch_metrics import EpochMean
from kanlab.optim import build_optimizer
from kanlab.registry import SCHEDULERS

__all__ = ["SCHEDULER_MONITOR", "TrainingSystem", "param_groups"]

SCHEDULER_MONITOR = "val/loss"
"""What a plateau scheduler of :meth:`TrainingSystem.configure_optimizers` watches."""


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimiser groups: decayed weights, and parameters that must not decay.

    The no-decay group holds every 1-D (or scalar) parameter (norms, biases, learnable eps)
    and every name returned by a submodule's ``no_weight_decay()`` (relative to that module).
    Empty groups are left out.
    """
    skip = no_weight_decay(model)
    if isinstance(model, NoWeightDecay):
        skip.update(model.no_weight_decay())
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name in skip else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


class TrainingSystem(pl.LightningModule):
    """A LightningModule around a plain model; subclasses define the loss and metrics.

    Subclasses set ``monitor``/``monitor_mode`` (the checkpoint criterion) and
    ``metric_name``, build ``self.metrics`` (one torchmetrics metric per stage, keys
    ``<stage>_metric``) and implement ``_loss_and_outputs``.

    Losses and metrics are accumulated in torchmetrics objects (sample-weighted, synced
    across processes on ``compute``) and logged once per epoch: a ``self.log`` call per step
    costs milliseconds, more than a whole step of a small MLP. Those epoch-level logs pass
    ``batch_size=1``: the weight Lightning gives a value logged outside a batch (it reads the
    size from the current batch, and there is none in the epoch hooks); said explicitly
    because a training step that runs its own batches (:mod:`kanlab.lit.epoch_step`) must.
    Losses use :class:`~kanlab.lit.epoch_metrics.EpochMean` (``MeanMetric``'s arithmetic at
    a few tensor ops per step).

    ``compile_train``: the training forward runs through ``torch.compile(model,
    dynamic=False)`` for batches of the first training batch's shape (one compilation, paid
    on the first step, and recompilations only where the model's Python state changes, e.g.
    after a grid update); other shapes (the short last batch) and evaluation run eagerly.
    Same values up to float rounding; worth it for small batches, where the per-op overhead
    of eager mode dominates a step.
    """

    monitor = "val/loss"
    monitor_mode = "min"
    metric_name = "metric"
    stages = ("train", "val", "test", "test_epoch")

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
        super().__init__()
        if not lr > 0:
            raise ValueError(f"`lr` must be > 0, but got lr={lr}.")
        if weight_decay < 0 or regularization_weight < 0:
            raise ValueError(
                "`weight_decay` and `regularization_weight` must be >= 0, but got "
                f"weight_decay={weight_decay}, regularization_weight={regularization_weight}."
            )
        self.save_hyperparameters(ignore=["model"])
        self.model = model
        self.losses = nn.ModuleDict({f"{s}_loss": EpochMean() for s in self.stages})
        self.metrics = nn.ModuleDict()
        self.reg_loss = EpochMean()
        self.history: list[dict[str, float]] = []
        self.select_from = 0  # first epoch best_epoch() may pick (final stage of a staged run)
        self._epoch_start = 0.0
        # (batch shape, compiled forward); a plain attribute, not a submodule, so the
        # state dict and checkpoints stay those of ``model``
        self._compiled: tuple[tuple[int, ...], Callable[..., torch.Tensor]] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets ``_current_fx_name`` (a plain string) around every hook call, dozens
        # of times a step; nn.Module.__setattr__'s parameter/module/buffer checks on it cost
        # ~0.1 ms a step, a tenth of a small MLP's step. Same attribute, stored directly.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def net(self, x: torch.Tensor) -> Callable[..., torch.Tensor]:
        """The callable that computes ``model(x)`` for this batch: the compiled training
        forward (``compile_train``, training, first batch shape) or ``model`` itself."""
        if not (self.hparams.get("compile_train", False) and self.training):
            return self.model
        shape = tuple(x.shape)
        if self._compiled is None:
            self._compiled = (shape, torch.compile(self.model, dynamic=False))
        return self._compiled[1] if self._compiled[0] == shape else self.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out

    def _loss_and_outputs(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, predictions, targets)`` of a batch; the last two feed the metric."""
        raise NotImplementedError

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        loss, preds, targets = self._loss_and_outputs(batch)
        loss_mean: Metric = self.losses[f"{stage}_loss"]  # type: ignore[assignment]
        metric: Metric = self.metrics[f"{stage}_metric"]  # type: ignore[assignment]
        loss_mean.update(loss.detach(), weight=len(targets))
        metric.update(preds.detach(), targets)
        return loss

    def _log_stage(self, stage: str) -> None:
        """Log ``<stage>/loss`` and ``<stage>/<metric>`` for the epoch and reset them."""
        loss_mean: Metric = self.losses[f"{stage}_loss"]  # type: ignore[assignment]
        metric: Metric = self.metrics[f"{stage}_metric"]  # type: ignore[assignment]
        if not loss_mean.update_called:
            return
        shown = stage in ("train", "val")
        self.log(f"{stage}/loss", loss_mean.compute(), prog_bar=shown, batch_size=1)
        self.log(f"{stage}/{self.metric_name}", metric.compute(), prog_bar=stage == "val",
                 batch_size=1)
        loss_mean.reset()
        metric.reset()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.train_loss(batch)

    def train_loss(self, batch: Any) -> torch.Tensor:
        """The loss a training batch back-propagates (metrics updated): what
        :meth:`training_step` returns, and what :mod:`kanlab.lit.epoch_step` runs per batch."""
        loss = self._shared_step(batch, "train")
        weight = self.hparams["regularization_weight"]
        if weight and isinstance(self.model, Regularized):
            reg = self.model.regularization_loss()
            self.reg_loss.update(reg.detach())
            loss = loss + weight * reg
        return loss

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._shared_step(batch, "val" if dataloader_idx == 0 else "test_epoch")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        groups = param_groups(self.model, hp["weight_decay"])
        optimizer = build_optimizer(
            hp["optimizer"], groups, lr=hp["lr"], params=hp["optimizer_params"]
        )
        if not hp["scheduler"]:
            return optimizer
        scheduler = SCHEDULERS.build(dict(hp["scheduler"]), optimizer)
        config = {"scheduler": scheduler, "interval": "epoch", "monitor": SCHEDULER_MONITOR}
        return {"optimizer": optimizer, "lr_scheduler": config}

    # ---------------------------------------------------------------- hooks

    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()
        optimizer = self.optimizers()
        opt = optimizer[0] if isinstance(optimizer, list) else optimizer
        self.log("lr", float(opt.param_groups[0]["lr"]), on_step=False, on_epoch=True,
                 batch_size=1)
        params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        self.log("params", float(params), on_step=False, on_epoch=True, batch_size=1)

    def on_validation_epoch_end(self) -> None:
        self._log_stage("val")
        self._log_stage("test_epoch")

    def on_test_epoch_end(self) -> None:
        self._log_stage("test")

    def on_train_epoch_end(self) -> None:
        self._log_stage("train")
        if self.reg_loss.update_called:
            self.log("train/reg_loss", self.reg_loss.compute(), batch_size=1)
            self.reg_loss.reset()
        elapsed = time.perf_counter() - self._epoch_start
        self.log("epoch_time_s", elapsed, on_step=False, on_epoch=True, batch_size=1)
        if self.history and self.history[-1]["epoch"] == self.current_epoch:
            self.history[-1]["epoch_time_s"] = elapsed

    def on_validation_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        row = {"epoch": float(self.current_epoch)}
        for key, value in self.trainer.callback_metrics.items():
            if key.startswith(("val/", "test_epoch/")):
                row[key] = float(value)
        self.history.append(row)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["kanlab_history"] = list(self.history)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("kanlab_history", []))

    def selectable(self) -> list[dict[str, float]]:
        """History rows of the epochs checkpoint selection may pick (``epoch >= select_from``).

        All rows when no epoch reached ``select_from`` (a run stopped before its final stage).
        """
        rows = [r for r in self.history if r["epoch"] >= self.select_from]
        return rows or list(self.history)

    def best_epoch(self) -> dict[str, float] | None:
        """The history row of the best validation epoch among :meth:`selectable` ones (first
        one on ties)."""
        rows = [r for r in self.selectable() if math.isfinite(r.get(self.monitor, math.nan))]
        if not rows:
            return None
        sign = 1.0 if self.monitor_mode == "max" else -1.0
        return max(rows, key=lambda r: sign * r[self.monitor])
