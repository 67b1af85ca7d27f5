from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from kanlab.layers.kan import _bspline
from kanlab.layers.kan._bspline import (
    cardinal_bspline,
    cox_de_boor,
    extended_grid,
    fit_coefficients,
    spline_features,
)
from kanlab.layers.kan._closed_form import closed_form_activation

F64 = torch.float64


def uniform_basis(x: torch.Tensor, low: float, step: float, m: int, k: int) -> torch.Tensor:
    """(N, M, D) basis-major closed-form basis, without the base slice."""
    return spline_features(x, None, low, step, m, k).view(x.shape[0], m, -1)


def _grid(g: int, k: int, d: int = 1) -> torch.Tensor:
    return extended_grid(g, k, (-1.0, 1.0), dtype=F64).expand(d, -1)


def test_extended_grid_knots() -> None:
    knots = extended_grid(2, 1, (-1.0, 1.0), dtype=F64)
    assert_close(knots, torch.tensor([-2.0, -1, 0, 1, 2], dtype=F64))


@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
def test_partition_of_unity_inside_grid(order: int) -> None:
    x = torch.linspace(-1, 0.999, 101, dtype=F64)[:, None]               # (101, 1)
    basis = cox_de_boor(x, _grid(5, order), order)                      # (101, 1, 5+K)
    assert basis.shape == (101, 1, 5 + order)
    assert_close(basis.sum(-1), torch.ones(101, 1, dtype=F64))
    assert (basis >= 0).all()


def test_values_at_knots_linear_and_cubic() -> None:
    x = torch.tensor([[0.0]], dtype=F64)                                # a knot of G=2 on [-1, 1]
    hats = cox_de_boor(x, _grid(2, 1), 1)[0, 0]                        # hats centred at -1, 0, 1
    assert_close(hats, torch.tensor([0.0, 1.0, 0.0], dtype=F64))
    cubic = cox_de_boor(x, _grid(2, 3), 3)[0, 0]                       # 5 cubics, 3 non-zero
    assert_close(cubic, torch.tensor([0.0, 1 / 6, 2 / 3, 1 / 6, 0.0], dtype=F64))
    half = cox_de_boor(torch.tensor([[0.5]], dtype=F64), _grid(2, 1), 1)[0, 0]
    assert_close(half, torch.tensor([0.0, 0.5, 0.5], dtype=F64))


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
def test_spline_features_gradient(order: int) -> None:
    x = (torch.rand(5, 2, dtype=F64) * 1.8 - 0.9).requires_grad_()
    base = torch.randn(5, 2, dtype=F64, requires_grad=True)
    fn = lambda v, b: spline_features(v, b, -1.0, 0.5, 4 + order, order)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, base))
    silu = closed_form_activation(torch.nn.SiLU())
    assert torch.autograd.gradcheck(
        lambda v: spline_features(v, silu, -1.0, 0.5, 4 + order, order), (x,)
    )
    ref_x = x.detach().clone().requires_grad_()
    w = torch.randn(5, 2, 4 + order, dtype=F64)
    (cox_de_boor(ref_x, _grid(4, order, 2), order) * w).sum().backward()
    feats = fn(x, base).view(5, 5 + order, 2)                          # (N, 1+M, D)
    assert_close(feats[:, 0], base)
    (feats[:, 1:].transpose(1, 2) * w).sum().backward()
    assert_close(x.grad, ref_x.grad)


@pytest.mark.parametrize("base", ["values", "form", None])
@pytest.mark.parametrize("order", [0, 1, 2, 3, 4, 5])
def test_fused_and_eager_kernels_agree(order: int, base: str | None) -> None:
    """The broadcast kernels (what torch.compile fuses) equal the slice-by-slice eager ones."""
    torch.manual_seed(order)
    x = torch.rand(40, 3, dtype=F64) * 5 - 2.5
    values = torch.randn(40, 3, dtype=F64) if base == "values" else None
    form = closed_form_activation(torch.nn.SiLU()) if base == "form" else None
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


def test_compiled_features_match_eager() -> None:
    """torch.compile'd kernels (forward and backward) give the eager values."""
    torch.manual_seed(0)
    x = (torch.rand(64, 5) * 2.4 - 1.2).requires_grad_()
    w = torch.randn(64, 9 * 5)
    outs, grads = [], []
    for compiled in (False, True):
        base = torch.nn.functional.silu(x)
        feats = spline_features(x, base, -1.0, 0.4, 8, 3, compiled)
        (gx,) = torch.autograd.grad((feats * w).sum(), x)
        outs.append(feats.detach())
        grads.append(gx)
    assert not _bspline._FEATURES.failed and not _bspline._GRAD.failed
    assert_close(outs[1], outs[0])
    assert_close(grads[1], grads[0])


def test_fit_coefficients_recovers_a_spline() -> None:
    torch.manual_seed(0)
    x = torch.rand(200, 2, dtype=F64) * 2 - 1
    basis = cox_de_boor(x, _grid(4, 3, 2), 3).transpose(0, 1)          # (D, N, M)
    coef = torch.randn(2, 7, 3, dtype=F64)                             # (D, M, O)
    fitted = fit_coefficients(basis, torch.bmm(basis, coef))
    assert_close(torch.bmm(basis, fitted), torch.bmm(basis, coef))


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
    form = closed_form_activation(torch.nn.SiLU()) if base == "form" else None
    hp = {"low": 0.0, "step": 1.0, "order": order, "form": form}
    assert_close(
        _bspline._features_fused(x, None, knots, n_basis=5, **hp),
        _bspline._features_eager(x, None, knots, n_basis=5, **hp),
    )
    grad = torch.randn(30, 5 + (form is not None), 3, dtype=F64)
    assert_close(
        _bspline._grad_fused(x, grad, knots, **hp), _bspline._grad_eager(x, grad, knots, **hp)
    )
