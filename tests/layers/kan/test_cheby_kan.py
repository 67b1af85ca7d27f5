from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from kanlab.layers.kan.cheby_kan import ChebyKANLinear, chebyshev_basis

F64 = torch.float64


def test_chebyshev_values_by_hand() -> None:
    t = torch.tensor([0.5, -1.0, 1.0], dtype=F64)
    expect = torch.tensor(
        [[1.0, 0.5, -0.5, -1.0, -0.5], [1.0, -1.0, 1.0, -1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0]],
        dtype=F64,
    )
    assert_close(chebyshev_basis(t, 4), expect)
    u = torch.linspace(-0.99, 0.99, 11, dtype=F64)
    trig = torch.stack([torch.cos(n * torch.acos(u)) for n in range(7)], -1)
    assert_close(chebyshev_basis(u, 6), trig)


def test_formula_uses_tanh_and_weight() -> None:
    layer = ChebyKANLinear(1, 1, grid_size=2, dtype=F64)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[[1.0, 2.0, 3.0]]]))
    x = torch.tensor([[math.atanh(0.5)]], dtype=F64)                   # tanh(x) = 0.5
    assert_close(layer(x), torch.tensor([[1.0 + 2 * 0.5 + 3 * (-0.5)]], dtype=F64))
    assert layer.basis(x).shape == (1, 1, 3)


def test_gradcheck() -> None:
    torch.manual_seed(0)
    layer = ChebyKANLinear(3, 2, grid_size=3, bias=True, dtype=F64)
    x = torch.randn(4, 3, dtype=F64, requires_grad=True)

    def fn(inp: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        return layer(inp)

    assert torch.autograd.gradcheck(fn, (x, layer.weight, layer.bias))


def test_parameter_count() -> None:
    assert sum(p.numel() for p in ChebyKANLinear(784, 64).parameters()) == 784 * 64 * 5


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="`grid_size` must be >= 1, but got grid_size=0"):
        ChebyKANLinear(3, 2, grid_size=0)
