"""Per-epoch loss and accuracy accumulators that cost a few tensor ops per batch.

torchmetrics' ``MeanMetric`` and ``MulticlassAccuracy`` check their inputs on every update
(a NaN scan and a host sync, a class-range validation, a confusion-matrix pass): ~80 µs a
batch on CPU, a tenth of a whole training step of the Fashion-MNIST MLP. These two metrics
do the same arithmetic with two in-place adds per batch and no host sync (and without
torchmetrics' per-call update wrapper: only its two counters are kept), so the values they
report are bit for bit those of the torchmetrics classes they replace; they stay torchmetrics
``Metric``s, so ``compute`` sums their states across processes as before.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric

__all__ = ["EpochAccuracy", "EpochMean"]

# Plain attributes torchmetrics' update wrapper sets on every call; nn.Module.__setattr__'s
# parameter/module/buffer checks on them cost more than the update's arithmetic.
_PLAIN = frozenset({"_computed", "_update_count"})


class _CheapMetric(Metric):
    def __init__(self) -> None:
        super().__init__()
        # torchmetrics wraps ``update`` in a grad-mode context and a device-error translation
        # (~15 µs a call); these updates take detached tensors and only count, so the wrapper's
        # two bookkeeping assignments are all they need.
        object.__setattr__(self, "update", self._counted_update)

    def _counted_update(self, *args: Any, **kwargs: Any) -> None:
        self._computed = None
        self._update_count += 1
        type(self).update(self, *args, **kwargs)

    def __setattr__(self, name: str, value: object) -> None:
        if name in _PLAIN:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class EpochMean(_CheapMetric):
    """Weighted mean ``Σ wᵢ·vᵢ / Σ wᵢ`` of scalar values, one per batch.

    The float32 running sums of ``MeanMetric`` (``mean_value += v·w``, ``weight += w``,
    ``compute = mean_value / weight``), including its default ``nan_strategy="warn"``: a NaN
    value adds nothing to either sum (``+ 0.0``, the same bits as leaving it out).

    Deviations: no warning is printed for a NaN value (that would need a host sync per batch).
    """

    full_state_update = False
    total: torch.Tensor
    weight: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("weight", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self._weights: dict[tuple[Any, ...], torch.Tensor] = {}  # (weight, dtype, device) -> 0-d

    def update(self, value: torch.Tensor, weight: float = 1.0) -> None:
        """Add a 0-d ``value`` with ``weight`` (the batch's sample count for a sample mean)."""
        key = (weight, self.total.dtype, self.total.device)
        w = self._weights.get(key)
        if w is None:
            w = torch.as_tensor(weight, dtype=self.total.dtype, device=self.total.device)
            self._weights[key] = w
        value = value.to(self.total.dtype)
        nan = torch.isnan(value)
        self.total.add_(torch.where(nan, 0.0, value * w))
        self.weight.add_(torch.where(nan, 0.0, w))

    def compute(self) -> torch.Tensor:
        return self.total / self.weight


class EpochAccuracy(_CheapMetric):
    """Share of samples whose arg-max logit is the target: ``correct / total``.

    What ``MulticlassAccuracy(average="micro")`` reports for ``(B, C)`` logits (top-1 by
    ``argmax(dim=1)``, integer counts, ``float(correct) / float(total)``, 0 when empty).

    Deviations: targets are not checked against the class range on every batch
    (``cross_entropy`` already rejects targets outside it).
    """

    full_state_update = False
    correct: torch.Tensor
    total: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("correct", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Count the batch: ``logits`` ``(B, C)``, ``target`` ``(B,)`` class indices."""
        self.correct.add_((logits.argmax(dim=1) == target).sum())
        self.total.add_(target.numel())

    def compute(self) -> torch.Tensor:
        correct, total = self.correct.float(), self.total.float()
        return torch.where(total != 0, correct / total, torch.zeros((), device=total.device))
