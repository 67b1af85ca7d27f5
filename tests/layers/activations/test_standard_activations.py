"""The thin wrappers: equal to torch's modules, inplace honoured where torch has it, checks."""

from __future__ import annotations

from typing import Any

import pytest
import sympy
import torch
from torch import nn

import kanlab
from kanlab.layers.activations._base import X

CASES: list[tuple[str, dict[str, Any], nn.Module]] = [
    ("relu", {}, nn.ReLU()),
    ("leaky_relu", {"negative_slope": 0.2}, nn.LeakyReLU(0.2)),
    ("prelu", {"init": 0.1}, nn.PReLU(init=0.1)),
    ("elu", {"alpha": 0.7}, nn.ELU(alpha=0.7)),
    ("celu", {"alpha": 0.5}, nn.CELU(alpha=0.5)),
    ("selu", {}, nn.SELU()),
    ("gelu", {}, nn.GELU()),
    ("gelu", {"approximate": "tanh"}, nn.GELU(approximate="tanh")),
    ("silu", {}, nn.SiLU()),
    ("mish", {}, nn.Mish()),
    ("softplus", {"beta": 2.0, "threshold": 10.0}, nn.Softplus(beta=2.0, threshold=10.0)),
    ("sigmoid", {}, nn.Sigmoid()),
    ("tanh", {}, nn.Tanh()),
    ("identity", {}, nn.Identity()),
]


@pytest.mark.parametrize(("name", "hparams", "reference"), CASES,
                         ids=[f"{c[0]}{c[1] or ''}" for c in CASES])
def test_matches_torch(name: str, hparams: dict[str, Any], reference: nn.Module) -> None:
    act = kanlab.create_activation(name, **hparams)
    x = torch.randn(3, 4, 5) * 3
    torch.testing.assert_close(act(x), reference(x))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "celu", "selu", "silu", "mish"])
def test_inplace_is_honoured(name: str) -> None:
    x = torch.randn(10)
    y = kanlab.create_activation(name, inplace=True)(x)
    assert y.data_ptr() == x.data_ptr()


@pytest.mark.parametrize("name", ["gelu", "softplus", "sigmoid", "tanh", "prelu", "crrelu"])
def test_inplace_is_ignored_where_torch_has_none(name: str) -> None:
    x = torch.randn(10)
    before = x.clone()
    kanlab.create_activation(name, inplace=True)(x)
    assert torch.equal(x, before)


def test_prelu_per_channel_and_sympy() -> None:
    act = kanlab.create_activation("prelu", num_parameters=3, init=0.1)
    ref = nn.PReLU(3, init=0.1)
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(act(x), ref(x))
    assert act.no_weight_decay() == {"weight"}
    with pytest.raises(ValueError, match="`num_parameters` must be 1 for a single sympy formula"):
        act.sympy()
    one = kanlab.create_activation("prelu", init=0.5)
    assert one.sympy() == sympy.Piecewise((X, X > 0), (sympy.Float(0.5) * X, True))


def test_sympy_forms_are_readable() -> None:
    assert kanlab.create_activation("relu").sympy() == sympy.Max(0, X)
    assert kanlab.create_activation("elu").sympy() == sympy.Piecewise(
        (X, X > 0), (sympy.exp(X) - 1, True))
    assert kanlab.create_activation("softplus").sympy() == sympy.log(1 + sympy.exp(X))
    assert "tanh" in kanlab.create_activation("gelu", approximate="tanh").formula_latex()


@pytest.mark.parametrize(
    ("name", "hparams", "message"),
    [
        ("celu", {"alpha": 0.0}, r"`alpha` must be > 0, but got alpha=0\.0"),
        ("softplus", {"beta": -1}, r"`beta` must be > 0, but got beta=-1"),
        ("softplus", {"threshold": 0}, r"`threshold` must be > 0, but got threshold=0"),
        ("elu", {"alpha": float("nan")}, r"`alpha` must be a finite number, but got alpha=nan"),
        ("leaky_relu", {"negative_slope": None}, r"`negative_slope` must be a finite number"),
        ("gelu", {"approximate": "tanhh"},
         r"`approximate` must be one of 'none', 'tanh', but got approximate='tanhh'\. "
         r"Did you mean 'tanh'\?"),
        ("prelu", {"num_parameters": 0}, r"`num_parameters` must be >= 1, but got "
                                         r"num_parameters=0"),
        ("relu", {"inplace": "yes"}, r"`inplace` must be a bool, but got inplace='yes'"),
    ],
)
def test_bad_hyperparameters(name: str, hparams: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kanlab.create_activation(name, **hparams)


def test_hyperparameters_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        kanlab.get_activation("leaky_relu")(0.2)


def test_get_activation_partial_and_factory_kwargs() -> None:
    factory = kanlab.get_activation("eafo", base="tanh")
    act = factory(inplace=True)
    assert type(act).__name__ == "EAFO" and act.derivation.ratio == -2 * sympy.tanh(X)
    prelu = kanlab.create_activation("prelu", device="meta", dtype=torch.float64)
    assert prelu.weight.is_meta and prelu.weight.dtype == torch.float64
    assert "num_parameters=1" in repr(prelu)
