from __future__ import annotations

import torch
from torch.testing import assert_close

from kanlab.layers.sparse.g_topk import GTopK
from kanlab.layers.sparse.topk import TopK


def test_beta_zero_or_no_attribution_is_topk() -> None:
    torch.manual_seed(0)
    x = torch.randn(20, 16)
    attribution = torch.randn(20, 16)
    expected = TopK(k=4, relu=True)(x)
    assert_close(GTopK(k=4)(x), expected)
    assert_close(GTopK(k=4, beta=0.0)(x, attribution), expected)


def test_large_attribution_wins_and_raw_z_is_written() -> None:
    z = torch.tensor([[1.0, 0.9, 0.1, 0.0]])
    attribution = torch.tensor([[0.0, 10.0, 0.0, 0.0]])
    y = GTopK(k=1, beta=1.0)(z, attribution)                 # scores 1.0, 9.9, 0.1, 0
    assert_close(y, torch.tensor([[0.0, 0.9, 0.0, 0.0]]))


def test_no_gradient_to_attribution_and_dropped() -> None:
    z = torch.randn(5, 8, requires_grad=True)
    a = torch.randn(5, 8, requires_grad=True)
    y = GTopK(k=2, relu=False)(z, a)
    y.sum().backward()
    assert a.grad is None and z.grad is not None
    assert (z.grad[y == 0] == 0).all()
