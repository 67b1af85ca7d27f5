from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from kanlab.layers.sparse._select import normal_quantile
from kanlab.layers.sparse.stat_topk import StatTopK, row_stats


def test_threshold_formula_hand_computed() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 10.0]])
    mean, std = x.mean(), x.std()
    theta = mean + std * normal_quantile(1 - 2 / 5)
    assert_close(StatTopK(k=2)(x), torch.relu(x - theta))
    assert_close(StatTopK(k=2, mode="hard")(x), x * (x > theta))


@pytest.mark.parametrize("num_samples", [None, 2048])
def test_mean_kept_count_on_gaussian_rows(num_samples: int | None) -> None:
    torch.manual_seed(0)
    x = torch.randn(1000, 3072) * 2.5 + 0.7
    y = StatTopK(density=0.08, num_samples=num_samples)(x)
    counts = (y > 0).sum(-1).float()
    k = 0.08 * 3072
    assert abs(float(counts.mean()) / k - 1) < 0.02
    assert float(counts.std()) / k < 0.08
    assert (y >= 0).all()


def test_sampled_statistics_on_long_rows_within_three_percent() -> None:
    torch.manual_seed(1)
    x = torch.randn(1000, 16384)
    counts = (StatTopK(k=256, num_samples=2048)(x) > 0).sum(-1).float()
    assert abs(float(counts.mean()) / 256 - 1) < 0.03


def test_fast_row_stats_match_welford() -> None:
    torch.manual_seed(4)
    x = torch.randn(64, 3000) * 3.0 + 20.0                         # |mu| / sigma ~ 7
    var, mean = torch.var_mean(x.double(), dim=-1, keepdim=True)
    fast_mean, fast_std = row_stats(x)
    assert_close(fast_mean.double(), mean, atol=1e-5, rtol=1e-5)
    assert_close(fast_std.double(), var.sqrt(), atol=1e-4, rtol=1e-4)


def test_detached_gradient_is_the_mask_and_flag_adds_threshold_grad() -> None:
    torch.manual_seed(2)
    x = torch.randn(4, 50, dtype=torch.float64, requires_grad=True)
    y = StatTopK(k=5)(x)
    y.sum().backward()
    assert x.grad is not None
    assert_close(x.grad, (y > 0).double())
    x.grad = None
    y2 = StatTopK(k=5, grad_through_threshold=True)(x)
    assert_close(y2, y)
    y2.sum().backward()
    assert not torch.equal(x.grad, (y > 0).double())
    assert torch.autograd.gradcheck(StatTopK(k=5, grad_through_threshold=True), (x,))


def test_dim_one_identity_at_full_density_and_errors() -> None:
    torch.manual_seed(3)
    x = torch.randn(2, 64, 3, 3)
    y = StatTopK(density=0.25, dim=1)(x)
    assert y.shape == x.shape
    assert_close(StatTopK(density=1.0)(x), x)
    with pytest.raises(ValueError, match="`mode` must be one of 'soft', 'hard'.*Did you mean"):
        StatTopK(k=2, mode="sfot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`num_samples` must be None or an int >= 64"):
        StatTopK(k=2, num_samples=3)


@pytest.mark.parametrize("grad_through_threshold", [False, True])
def test_second_derivatives(grad_through_threshold: bool) -> None:
    """No once_differentiable anywhere on this path: double backward works (custom Function
    for the detached soft threshold included)."""
    act = StatTopK(k=3, grad_through_threshold=grad_through_threshold).double()
    x = torch.randn(4, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradgradcheck(act, (x.requires_grad_(True),))
