"""The sympy -> torch printer used by EAFO."""

from __future__ import annotations

import pickle

import pytest
import sympy
import torch

from kanlab.layers.activations._base import X
from kanlab.layers.activations._sympy_torch import TorchFunction

F64 = torch.float64


@pytest.mark.parametrize(
    ("expr", "reference"),
    [
        (3 * X**2 - X / 2 + sympy.pi, lambda x: 3 * x**2 - x / 2 + torch.pi),
        (sympy.sqrt(X**2 + 1) * sympy.exp(-X), lambda x: torch.sqrt(x**2 + 1) * torch.exp(-x)),
        (sympy.erf(X) + sympy.tanh(X) * sympy.log(1 + sympy.exp(X)),
         lambda x: torch.erf(x) + torch.tanh(x) * torch.log1p(torch.exp(x))),
        (sympy.Max(0, X) + sympy.Min(X, 1), lambda x: x.clamp_min(0) + x.clamp_max(1)),
        (sympy.Heaviside(X) * sympy.Abs(X), lambda x: (x > 0).to(x.dtype) * x.abs()),
        (sympy.Piecewise((X, X > 1), (-X, sympy.And(X <= 1, X > -1)), (2 * X, True)),
         lambda x: torch.where(x > 1, x, torch.where(x > -1, -x, 2 * x))),
        (1 / (sympy.exp(X) + 1), lambda x: torch.sigmoid(-x)),
    ],
)
def test_matches_hand_written_torch(expr: sympy.Expr, reference: object) -> None:
    x = torch.linspace(-3, 3, 61, dtype=F64)
    fn = TorchFunction(expr, X)
    torch.testing.assert_close(fn(x), reference(x))  # type: ignore[operator]


def test_constant_broadcasts_and_gradients_flow() -> None:
    x = torch.randn(2, 3, dtype=F64, requires_grad=True)
    assert TorchFunction(sympy.Integer(2), X)(x).shape == (2, 3)
    y = TorchFunction(sympy.sin(X) * X, X)(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, torch.cos(x) * x + torch.sin(x))


def test_pickles_and_rejects_unknown() -> None:
    fn = pickle.loads(pickle.dumps(TorchFunction(sympy.exp(X), X)))
    torch.testing.assert_close(fn(torch.zeros(2)), torch.ones(2))
    with pytest.raises(ValueError, match="must depend on x only"):
        TorchFunction(X * sympy.Symbol("y"), X)
    with pytest.raises(ValueError, match="Cannot translate"):
        TorchFunction(sympy.gamma(X), X)
