from __future__ import annotations

import torch
from torch.testing import assert_close

from kanlab.layers.sparse.topk import TopK


def test_hand_computed_rows() -> None:
    x = torch.tensor([[3.0, -1.0, 2.0, 0.5], [-4.0, -2.0, -3.0, -1.0]])
    assert_close(TopK(k=2)(x), torch.tensor([[3.0, 0.0, 2.0, 0.0], [0.0, -2.0, 0.0, -1.0]]))
    assert_close(TopK(k=2, relu=True)(x), torch.tensor([[3.0, 0, 2.0, 0], [0.0, 0, 0, 0]]))


def test_exactly_k_kept_and_kept_dominate_dropped() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 3, 50)
    y = TopK(k=7)(x)
    nz = y != 0
    assert (nz.sum(-1) == 7).all()
    assert_close(y[nz], x[nz])                                   # kept values unchanged
    kept_min = torch.where(nz, x, torch.inf).amin(-1)
    dropped_max = torch.where(nz, -torch.inf, x).amax(-1)
    assert (kept_min >= dropped_max).all()


def test_relu_variant_at_most_k_nonnegative() -> None:
    torch.manual_seed(1)
    y = TopK(k=5, relu=True)(torch.randn(100, 8) - 1.0)
    assert ((y != 0).sum(-1) <= 5).all() and (y >= 0).all()


def test_gradient_is_the_mask() -> None:
    torch.manual_seed(2)
    x = torch.randn(10, 12, requires_grad=True)
    y = TopK(k=3)(x)
    y.sum().backward()
    assert x.grad is not None
    assert_close(x.grad, (y != 0).float())


def test_dim_and_density_and_identity_at_k_equals_d() -> None:
    torch.manual_seed(3)
    x = torch.randn(2, 16, 4, 4)
    y = TopK(density=0.25, dim=1)(x)
    assert ((y != 0).sum(1) == 4).all()
    assert_close(TopK(k=16, dim=1)(x), x)
    assert "k=" in repr(TopK(k=3)) and "density=0.25" in repr(TopK(density=0.25))


def test_train_and_eval_identical() -> None:
    x = torch.randn(4, 9)
    layer = TopK(sparsity=0.5)
    y_train = layer(x)
    assert_close(layer.eval()(x), y_train)
