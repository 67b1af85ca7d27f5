from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from kanlab.layers.kan._bspline import cox_de_boor, extended_grid, fit_coefficients

F64 = torch.float64


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


def test_fit_coefficients_recovers_a_spline() -> None:
    torch.manual_seed(0)
    x = torch.rand(200, 2, dtype=F64) * 2 - 1
    basis = cox_de_boor(x, _grid(4, 3, 2), 3).transpose(0, 1)          # (D, N, M)
    coef = torch.randn(2, 7, 3, dtype=F64)                             # (D, M, O)
    fitted = fit_coefficients(basis, torch.bmm(basis, coef))
    assert_close(torch.bmm(basis, fitted), torch.bmm(basis, coef))
