from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from kanlab.layers.kan._bspline import cox_de_boor, extended_grid
from kanlab.layers.kan._fused import _bspline
from kanlab.layers.kan._fused._bspline import cardinal_bspline
from kanlab.registry import ACTIVATIONS

F64 = torch.float64
SILU = ACTIVATIONS.build("silu").closed_form()


def uniform_basis(x: torch.Tensor, low: float, step: float, m: int, k: int) -> torch.Tensor:
    """(N, M, D) basis-major closed-form basis, without the base slice."""
    feats = _bspline._features_eager(
        x, None, None, form=None, low=low, step=step, n_basis=m, order=k
    )
    return feats.view(x.shape[0], m, -1)


def _grid(g: int, k: int, d: int = 1) -> torch.Tensor:
    return extended_grid(g, k, (-1.0, 1.0), dtype=F64).expand(d, -1)


@pytest.mark.parametrize("order", [0, 1, 2, 3, 4, 5])
def test_closed_form_equals_cox_de_boor(order: int) -> None:
    torch.manual_seed(0)
    x = torch.rand(300, 3, dtype=F64) * 5 - 2.5                        # also outside the grid
    x[0] = torch.tensor([-1.0, 0.2, 1.0], dtype=F64)                   # exactly on knots
    ref = cox_de_boor(x, _grid(5, order, 3), order)                    # (N, D, M)
    fast = uniform_basis(x, -1.0, 0.4, 5 + order, order)               # (N, M, D)
    assert_close(fast.transpose(1, 2), ref)


def test_zero_outside_extended_grid() -> None:
    x = torch.tensor([[-3.0], [3.0]], dtype=F64)
    assert cox_de_boor(x, _grid(5, 3), 3).abs().max() == 0
    assert uniform_basis(x, -1.0, 0.4, 8, 3).abs().max() == 0


def test_cardinal_cubic_values() -> None:
    t = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 0.5], dtype=F64)
    expect = torch.tensor([0.0, 1 / 6, 2 / 3, 1 / 6, 0.0, 0.5**3 / 6], dtype=F64)
    assert_close(cardinal_bspline(t, 3), expect)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_gradient_kernels_match_autograd_of_cox_de_boor(order: int) -> None:
    x = (torch.rand(5, 2, dtype=F64) * 1.8 - 0.9).requires_grad_()
    w = torch.randn(5, 2, 4 + order, dtype=F64)                          # (N, D, M)
    (expected,) = torch.autograd.grad((cox_de_boor(x, _grid(4, order, 2), order) * w).sum(), x)
    hp = {"low": -1.0, "step": 0.5, "order": order, "form": None}
    grad = w.transpose(1, 2).contiguous()                                # (N, M, D)
    assert_close(_bspline._grad_eager(x.detach(), grad, None, **hp), expected)
    assert_close(_bspline._grad_fused(x.detach(), grad, None, **hp), expected)


@pytest.mark.parametrize("base", ["values", "form", None])
@pytest.mark.parametrize("order", [0, 1, 2, 3, 4, 5])
def test_fused_and_eager_kernels_agree(order: int, base: str | None) -> None:
    """The broadcast kernels (what torch.compile fuses) equal the slice-by-slice eager ones."""
    torch.manual_seed(order)
    x = torch.rand(40, 3, dtype=F64) * 5 - 2.5
    values = torch.randn(40, 3, dtype=F64) if base == "values" else None
    form = SILU if base == "form" else None
    hp = {"low": -1.0, "step": 0.4, "order": order, "form": form}
    m = 5 + order
    feats = _bspline._features_fused(x, values, None, n_basis=m, **hp)
    assert_close(feats, _bspline._features_eager(x, values, None, n_basis=m, **hp))
    if form is not None:
        assert_close(feats[:, :3], torch.nn.functional.silu(x))
    grad = torch.randn(40, m + (form is not None), 3, dtype=F64)
    assert_close(
        _bspline._grad_fused(x, grad, None, **hp), _bspline._grad_eager(x, grad, None, **hp)
    )


def test_compiled_kernels_match_eager() -> None:
    """torch.compile'd kernels (features and gradient) give the eager values."""
    torch.manual_seed(0)
    x = torch.rand(64, 5) * 2.4 - 1.2
    base = torch.nn.functional.silu(x)
    grad = torch.randn(64, 8, 5)
    hp = {"low": -1.0, "step": 0.4, "order": 3, "form": None}
    outs = [
        (
            _bspline._FEATURES(x, base, None, compiled=compiled, n_basis=8, **hp),
            _bspline._GRAD(x, grad, None, compiled=compiled, **hp),
        )
        for compiled in (False, True)
    ]
    assert not _bspline._FEATURES.failed and not _bspline._GRAD.failed
    assert_close(outs[1][0], outs[0][0])
    assert_close(outs[1][1], outs[0][1])


def _random_knots(d: int, t: int, seed: int) -> torch.Tensor:
    """Sorted per-input knots (D, T) with a repeated knot in the first row."""
    torch.manual_seed(seed)
    knots = torch.sort(torch.rand(d, t, dtype=F64) * 4 - 2, dim=1).values
    knots[0, 4] = knots[0, 3]
    return knots


@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
def test_knot_kernels_match_cox_de_boor_and_its_derivative(order: int) -> None:
    knots = _random_knots(3, 6 + order + 1, order)                     # M = 6 functions
    x = (torch.rand(50, 3, dtype=F64) * 5 - 2.5).requires_grad_()
    ref = cox_de_boor(x, knots, order)                                  # (N, D, M)
    slices = torch.stack(_bspline._knot_levels(x, knots, order), -1)
    assert_close(slices, ref)
    w = torch.randn_like(ref)
    expected = torch.zeros_like(x)                                  # order 0: piecewise constant
    if order > 0:
        (expected,) = torch.autograd.grad((ref * w).sum(), x)          # autograd, recursion
    derivative = _bspline.cox_de_boor_derivative(x.detach(), knots, order)
    assert_close((derivative * w).sum(-1), expected)
    slopes = torch.stack(_bspline._knot_slopes(x.detach(), knots, order), -1)
    assert_close(slopes, derivative)


@pytest.mark.parametrize("base", ["form", None])
@pytest.mark.parametrize("order", [0, 1, 3])
def test_fused_and_eager_knot_kernels_agree(order: int, base: str | None) -> None:
    knots = _random_knots(3, 5 + order + 1, 7)
    x = torch.rand(30, 3, dtype=F64) * 5 - 2.5
    form = SILU if base == "form" else None
    hp = {"low": 0.0, "step": 1.0, "order": order, "form": form}
    assert_close(
        _bspline._features_fused(x, None, knots, n_basis=5, **hp),
        _bspline._features_eager(x, None, knots, n_basis=5, **hp),
    )
    grad = torch.randn(30, 5 + (form is not None), 3, dtype=F64)
    assert_close(
        _bspline._grad_fused(x, grad, knots, **hp), _bspline._grad_eager(x, grad, knots, **hp)
    )
