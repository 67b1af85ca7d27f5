"""The per-epoch accumulators report torchmetrics' MeanMetric / MulticlassAccuracy bit for bit."""

from __future__ import annotations

import warnings

import torch
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from kanlab.lit.epoch_metrics import EpochAccuracy, EpochMean


def test_epoch_mean_is_meanmetric_bit_for_bit_nan_batches_left_out() -> None:
    gen = torch.Generator().manual_seed(0)
    ours, ref = EpochMean(), MeanMetric()
    for i in range(300):
        value = torch.rand((), generator=gen) * 3
        if i in (7, 150):
            value = torch.tensor(float("nan"))
        n = 64 if i < 299 else 24
        ours.update(value, weight=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MeanMetric warns about the NaN batches
            ref.update(value, weight=n)
    assert ours.compute().item().hex() == ref.compute().item().hex()
    assert ours.weight.item() == 299 * 64 + 24 - 2 * 64
    unweighted, ref_unweighted = EpochMean(), MeanMetric()
    for v in torch.rand(50, generator=gen):
        unweighted.update(v)
        ref_unweighted.update(v)
    assert torch.equal(unweighted.compute(), ref_unweighted.compute())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # compute before update
        assert torch.isnan(EpochMean().compute())  # nothing counted: 0 / 0, as MeanMetric
        assert EpochAccuracy().compute().item() == 0.0  # nothing counted: 0, as torchmetrics


def test_epoch_accuracy_is_micro_multiclass_accuracy() -> None:
    gen = torch.Generator().manual_seed(1)
    ours, ref = EpochAccuracy(), MulticlassAccuracy(num_classes=10, average="micro")
    for n in (64, 64, 64, 13):
        logits = torch.randn(n, 10, generator=gen)
        logits[0, 3] = logits[0, 5] = 9.0  # a tie: both take argmax's first index
        target = torch.randint(0, 10, (n,), generator=gen)
        ours.update(logits, target)
        ref.update(logits, target)
    assert ours.compute().item().hex() == ref.compute().item().hex()
    assert ours.total.item() == 205
    assert not ours.state_dict()  # not in checkpoints, as torchmetrics' states
