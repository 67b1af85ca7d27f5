from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from kanlab.layers.sparse.attention_mil import AttentionMIL
from kanlab.layers.sparse.stkim import STKIM


def test_training_masks_floor_kp_within_top_set() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 3, 40)
    layer = STKIM(k=10, mask_drop=0.6)
    w = layer(logits)
    assert_close(w.sum(-1), torch.ones(5, 3))
    zero = w == 0
    assert (zero.sum(-1) == 6).all()
    top10 = torch.zeros_like(zero).scatter(-1, logits.topk(10, dim=-1).indices, True)
    assert (zero <= top10).all()


def test_eval_is_plain_softmax_and_seed_reproducible() -> None:
    logits = torch.randn(4, 30)
    layer = STKIM(k=10)
    torch.manual_seed(1)
    a = layer(logits)
    torch.manual_seed(1)
    b = layer(logits)
    torch.manual_seed(2)
    c = layer(logits)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert_close(layer.eval()(logits), logits.softmax(-1))
    assert STKIM(k=50).num_masked(20) == 12                 # K' clipped to N


def test_mask_drop_validation() -> None:
    with pytest.raises(ValueError, match=r"`mask_drop` must be in \[0, 1\), but got mask_drop=1"):
        STKIM(k=3, mask_drop=1.0)


def test_attention_mil_shapes_and_gradients() -> None:
    torch.manual_seed(3)
    pool = AttentionMIL(16, 3, hidden=8, branches=2, k=4)
    bags = torch.randn(2, 12, 16)
    y = pool(bags)
    assert y.shape == (2, 3)
    assert pool.last_attention is not None and pool.last_attention.shape == (2, 2, 12)
    assert ((pool.last_attention == 0).sum(-1) == 2).all()
    y.sum().backward()
    assert all(p.grad is not None for p in pool.parameters())
    with pytest.raises(ValueError, match="must have last dim 16"):
        pool(torch.randn(2, 12, 5))
