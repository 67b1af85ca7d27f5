"""Divergence is a failure, not a result: stop a run whose loss or weights stop being finite.

A learning rate that is too large (or a bad initialisation) drives the training loss to NaN
or infinity; Lightning would train on, test the NaN weights and record, say, 10 % accuracy as
a completed run. :class:`StopOnDivergence` checks the training loss after every step and the
parameters after every epoch, and raises :class:`Diverged` with one line naming the step and
the value. :func:`kanlab.lit.train.train` then records no row and removes the fresh run
directory; a search trial ends FAIL with that line as its reason.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch

from kanlab.errors import Diverged

__all__ = ["Diverged", "StopOnDivergence"]


class StopOnDivergence(pl.Callback):
    """Raise :class:`Diverged` at the first non-finite training loss or parameter."""

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        # a scalar loss: one host read (no isfinite/all kernels); other shapes: the tensor test
        finite = (math.isfinite(loss.item()) if loss.numel() == 1
                  else bool(torch.isfinite(loss.detach()).all()))
        if not finite:
            raise Diverged(
                f"training diverged at step {trainer.global_step} (epoch "
                f"{trainer.current_epoch}): train loss = {float(loss.detach().float().mean())}"
            )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for name, param in pl_module.named_parameters():
            if not bool(torch.isfinite(param.detach()).all()):
                bad = param.detach()[~torch.isfinite(param.detach())].flatten()[0]
                raise Diverged(
                    f"training diverged by step {trainer.global_step} (epoch "
                    f"{trainer.current_epoch}): parameter {name} = {float(bad)}"
                )
