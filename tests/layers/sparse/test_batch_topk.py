from __future__ import annotations

import torch
from torch.testing import assert_close

from kanlab.layers.sparse.batch_topk import BatchTopK


def test_batch_mean_exactly_k_with_varying_rows() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 64) + 0.5
    y = BatchTopK(k=5)(x)
    counts = (y != 0).sum(-1)
    assert int(counts.sum()) == 5 * 32
    assert counts.min() < counts.max()                            # per-row counts vary
    nz = y != 0
    assert float(x[nz].min()) >= float(x[~nz].max())              # global threshold
    assert_close(y[nz], x[nz])


def test_threshold_learnt_in_training_and_used_in_eval() -> None:
    torch.manual_seed(1)
    layer = BatchTopK(k=4, momentum=1.0)
    x = torch.randn(16, 32)
    y = layer(x)
    assert int(layer.num_batches_tracked) == 1
    assert_close(layer.threshold, y[y != 0].min())
    layer.eval()
    x2 = torch.randn(3, 32)
    y2 = layer(x2)
    assert_close(y2, torch.relu(x2) * (x2 > layer.threshold))
    assert_close(layer(x2[:1]), y2[:1])                            # batch independent in eval
    assert "threshold" in layer.state_dict()


def test_eval_before_training_uses_batch_rule_and_grads_on_kept_only() -> None:
    layer = BatchTopK(k=2).eval()
    x = torch.randn(4, 8, requires_grad=True)
    y = layer(x)
    assert int((y != 0).sum()) <= 8
    y.sum().backward()
    assert x.grad is not None
    assert_close(x.grad, (y != 0).float())
