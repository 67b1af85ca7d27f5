"""Symbolic export: library fits, edge sampling, and recovery from trained KAN layers."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import sympy
import torch
from torch import nn

import kanlab
from kanlab.registry import LAYERS
from kanlab.results.symbolic import (
    X,
    activation_formulas,
    edge_curves,
    fit_candidates,
    fit_function,
    layer_formulas,
    symbolic_report,
    tidy_constants,
    to_latex,
)


@pytest.mark.parametrize(
    ("target", "name", "affine"),
    [
        (lambda x: 2 * torch.sin(1.5 * x + 0.3) - 1, "sin", True),
        (lambda x: 3 * x.square() + 1, "x^2", False),
        (lambda x: torch.exp(x), "exp", False),
        (lambda x: torch.tanh(2 * x), "tanh", True),
        (lambda x: 0.5 * x - 2, "x", False),
    ],
)
def test_fit_recovers_library_functions(
    target: Callable[[torch.Tensor], torch.Tensor], name: str, affine: bool
) -> None:
    x = torch.linspace(-2, 2, 101, dtype=torch.float64)
    fit = fit_function(x, target(x))
    assert fit.function == name and fit.affine == affine
    assert fit.r2 > 0.9999
    torch.testing.assert_close(fit(x), target(x), atol=1e-2, rtol=0)


def test_fit_expression_and_latex() -> None:
    x = torch.linspace(-2, 2, 101, dtype=torch.float64)
    fit = fit_function(x, 2 * torch.exp(x) + 1)
    assert sympy.simplify(fit.expr() - (2 * sympy.exp(X) + 1)) == 0
    assert to_latex(fit.expr()) == "2 e^{x} + 1"


def test_fit_candidates_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        fit_candidates([0.0, 1.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="Did you mean 'sin'"):
        fit_candidates([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], library=["sn"])


class _Additive(nn.Module):
    """y_0 = sin(x_0) + x_1^2 + 0.5, y_1 = exp(x_0) - 1: a known two-input layer."""

    in_features, out_features = 2, 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y0 = torch.sin(x[:, 0]) + x[:, 1].square() + 0.5
        y1 = torch.exp(x[:, 0]) - 1
        return torch.stack([y0, y1], dim=1)


def test_edge_curves_and_layer_formulas_on_known_layer() -> None:
    layer = _Additive()
    xs, phi, y0 = edge_curves(layer, (-2.0, 2.0), 51)
    assert phi.shape == (2, 2, 51)
    torch.testing.assert_close(phi[0, 0], torch.sin(xs))
    torch.testing.assert_close(phi[1, 1], torch.zeros(51, dtype=torch.float64))
    formulas, fits = layer_formulas(layer, x_range=(-2.0, 2.0))
    assert (1, 1) not in fits  # a flat edge counts as 0
    x0, x1 = sympy.symbols("x_0 x_1", real=True)                      # 0-based, like x[:, 0]
    assert sympy.simplify(formulas[0] - (sympy.sin(x0) + x1**2 + sympy.Rational(1, 2))) == 0
    assert sympy.simplify(formulas[1] - (sympy.exp(x0) - 1)) == 0


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("sin", lambda x: torch.sin(math.pi * x)),
        ("x^2", lambda x: x.square()),
        ("exp", torch.exp),
    ],
)
def test_recovers_function_from_trained_kan_layer(
    name: str, target: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    torch.manual_seed(0)
    layer = LAYERS.build({"name": "b_spline_kan", "grid_size": 8}, 1, 1)
    x = torch.linspace(-1, 1, 256).unsqueeze(1)                          # (256, 1)
    y = target(x)
    opt = torch.optim.Adam(layer.parameters(), lr=2e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = (layer(x) - y).square().mean()
        loss.backward()
        opt.step()
    _, fits = layer_formulas(layer, x_range=(-1.0, 1.0))
    fit = fits[(0, 0)]
    assert fit.function == name
    assert fit.r2 > 0.99


def test_activation_formulas_and_report() -> None:
    model = nn.Sequential(nn.Linear(2, 2), kanlab.create_activation("relu"))
    formulas = activation_formulas(model)
    assert list(formulas) == ["1"]
    report = symbolic_report(model)
    assert report.startswith("Activations:") and "1:" in report


def test_symbolic_cli_prints_activation_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    from kanlab.cli import main

    assert main(["symbolic", "--activation", "silu", "--latex"]) == 0
    assert capsys.readouterr().out.startswith("silu: ")
    assert main(["symbolic"]) == 2


def test_kan_layers_finds_outermost_layers() -> None:
    model = kanlab.create_model("kan_mlp", widths=[3, 2, 2], layer="s_kan")
    from kanlab.results.symbolic import kan_layers

    assert [name for name, _ in kan_layers(model)] == ["layers.0", "layers.1"]


class _KANSum(nn.Module):
    """A KAN-like layer (``basis`` + features) computing y_o = sum_i (o + 1) * x_i^2 + o."""

    in_features, out_features = 3, 2

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squares = x.square().sum(dim=1, keepdim=True)                     # (B, 1)
        return torch.cat([squares, 2 * squares + 1], dim=1)                # (B, 2)


def test_report_numbers_inputs_outputs_and_edges_from_zero() -> None:
    model = nn.Sequential(_KANSum())
    whole = symbolic_report(model, x_range=(-1.0, 1.0))
    assert "KAN layer 0 (3 -> 2)" in whole                                # module name "0"
    assert "y_0 = x_0**2 + x_1**2 + x_2**2\n" in whole + "\n"
    assert "y_1 = 2*x_0**2 + 2*x_1**2 + 2*x_2**2 + 1" in whole
    assert "x_3" not in whole and "y_2" not in whole
    edges = symbolic_report(model, x_range=(-1.0, 1.0), max_edges=2)      # top edges only
    lines = [line.strip() for line in edges.splitlines()[1:]]
    assert lines == ["phi[1,0](x_0) = 2*x_0**2   (R^2 1.0000)",
                     "phi[1,1](x_1) = 2*x_1**2   (R^2 1.0000)"]


def test_float32_parameters_print_without_noise() -> None:
    model = nn.Sequential(nn.Linear(2, 2), kanlab.create_activation("crrelu", eps=0.005),
                          kanlab.create_activation("eafo", base="relu", eps=0.005))
    assert float(model[1].eps.detach()) == 0.004999999888241291          # float32 rounding
    formulas = {name: str(expr) for name, expr in activation_formulas(model).items()}
    assert formulas["1"] == "0.005*x*exp(-x**2/2) + Max(0, x)"
    assert formulas["2"] == "-0.0025*sqrt(2)*x*exp(-x**2/2)/sqrt(pi) + Max(0, x)"
    report = symbolic_report(model)
    assert "0.00499999" not in report


def test_tidy_constants_keeps_values_and_exact_numbers() -> None:
    noisy = sympy.Float(0.004999999888241291) * sympy.sqrt(2) * X + sympy.Float(3.0)
    assert str(tidy_constants(noisy)) == "0.005*sqrt(2)*x + 3"
    assert str(tidy_constants(sympy.Float(0.1234567890123) * X)) == "0.123457*x"
    assert str(tidy_constants(sympy.Float(0.1234567890123) * X, digits=9)) == "0.123456789*x"
    assert tidy_constants(X**2 + 1) == X**2 + 1


def test_symbolic_cli_activation_constants_are_rounded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kanlab.cli import main

    assert main(["symbolic", "--activation", "crrelu", "--set", "eps=0.005"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("crrelu: ") and "0.005*x" in out and "0.00499999" not in out
