from __future__ import annotations

import torch
from torch.testing import assert_close

from kanlab.layers.sparse.abs_topk import AbsTopK


def test_hand_computed_keeps_signs() -> None:
    x = torch.tensor([[3.0, -5.0, 2.0, 0.5]])
    assert_close(AbsTopK(k=2)(x), torch.tensor([[3.0, -5.0, 0.0, 0.0]]))


def test_invariants_on_gaussian_rows() -> None:
    torch.manual_seed(0)
    x = torch.randn(2000, 64)
    layer = AbsTopK(k=8)
    y = layer(x)
    nz = y != 0
    assert (nz.sum(-1) == 8).all()
    assert_close(y[nz], x[nz])
    kept = torch.where(nz, x.abs(), torch.inf).amin(-1)
    dropped = torch.where(nz, -torch.inf, x.abs()).amax(-1)
    assert (kept >= dropped).all()
    assert_close(layer(-x), -y)                                     # odd symmetry
    negative_share = (y < 0).sum() / nz.sum()
    assert abs(float(negative_share) - 0.5) < 0.02


def test_gradient_zero_on_dropped() -> None:
    x = torch.randn(6, 10, requires_grad=True)
    y = AbsTopK(density=0.3)(x)
    y.square().sum().backward()
    assert x.grad is not None
    assert (x.grad[y == 0] == 0).all()
    assert_close(x.grad[y != 0], 2 * x[y != 0].detach())
