"""CRReLU: formula on hand-computable inputs, derivative, minimum, eps handling, CLI info."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call
from torch.nn import functional as F

from kanlab.cli import main
from kanlab.layers.activations.crrelu import CRReLU

F64 = torch.float64


def test_hand_computed_values() -> None:
    eps = 0.3
    act = CRReLU(eps=eps, dtype=F64)
    x = torch.tensor([0.0, 1.0, -1.0, 2.0, 40.0, -40.0], dtype=F64)
    expected = torch.tensor(
        [0.0, 1 + eps * math.exp(-0.5), -eps * math.exp(-0.5), 2 + 2 * eps * math.exp(-2.0),
         40.0, 0.0],
        dtype=F64,
    )
    torch.testing.assert_close(act(x), expected)


def test_zero_eps_is_relu_and_correction_is_odd() -> None:
    x = torch.randn(100, dtype=F64)
    torch.testing.assert_close(CRReLU(eps=0.0, dtype=F64)(x), F.relu(x))
    act = CRReLU(eps=0.2, dtype=F64)
    torch.testing.assert_close(act(x) - F.relu(x), -(act(-x) - F.relu(-x)))


def test_derivatives_match_closed_form() -> None:
    eps = 0.25
    act = CRReLU(eps=eps, dtype=F64)
    x = torch.tensor([-2.5, -1.0, -0.3, 0.4, 1.0, 3.0], dtype=F64, requires_grad=True)
    (dx,) = torch.autograd.grad(act(x).sum(), x)
    xd = x.detach()
    closed = (xd > 0).to(F64) + eps * (1 - xd**2) * torch.exp(-(xd**2) / 2)
    torch.testing.assert_close(dx, closed)
    act.zero_grad()
    act(xd).sum().backward()                               # d/d eps = sum x exp(-x^2/2)
    assert act.eps.grad is not None
    torch.testing.assert_close(act.eps.grad, (xd * torch.exp(-(xd**2) / 2)).sum())


def test_minimum_of_negative_lobe_at_minus_one() -> None:
    eps = 0.5
    grid = torch.linspace(-4.0, -1e-3, 40001, dtype=F64)
    y = CRReLU(eps=eps, dtype=F64)(grid).detach()
    i = int(torch.argmin(y))
    assert abs(float(grid[i]) + 1.0) < 1e-3
    assert math.isclose(float(y[i]), -eps * math.exp(-0.5), rel_tol=1e-6)


def test_gradcheck_including_eps() -> None:
    act = CRReLU(eps=0.1, dtype=F64)
    x = torch.tensor([-1.7, -0.4, 0.3, 1.2, 2.2], dtype=F64, requires_grad=True)
    e = torch.tensor(0.1, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, e: functional_call(act, {"eps": e}, (x,)), (x, e))


def test_eps_parameter_and_weight_decay_marker() -> None:
    act = CRReLU(eps=-0.02)                                 # negative allowed (sign caveat)
    assert act.eps.shape == () and act.eps.requires_grad
    assert math.isclose(float(act.eps.detach()), -0.02, rel_tol=1e-6)
    assert act.no_weight_decay() == {"eps"}
    assert [n for n, _ in act.named_parameters()] == ["eps"]
    assert "eps=-0.02" in repr(act)
    assert CRReLU(eps=0.1, dtype=F64).eps.dtype == F64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": float("nan")}, r"`eps` must be a finite number, but got eps=nan"),
        ({"eps": "0.1"}, r"`eps` must be a finite number, but got eps='0.1'"),
        ({"inplace": "yes"}, r"`inplace` must be a bool, but got inplace='yes'"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CRReLU(**kwargs)  # type: ignore[arg-type]


def test_info_prints_formula(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "crrelu"]) == 0
    out = capsys.readouterr().out
    assert "crrelu(x) = max(0, x) + eps * x * exp(-x^2 / 2)" in out
    assert "arXiv:2405.12954" in out
