from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

import kanlab
from kanlab.layers.kan.fast_kan import FastKANLinear

F64 = torch.float64


def test_rbf_values_by_hand() -> None:
    layer = FastKANLinear(1, 1, grid_size=3, use_layernorm=False, dtype=F64)  # u=-2,0,2; h=2
    phi = layer.basis(torch.tensor([[1.0]], dtype=F64))[0, 0]
    expect = torch.tensor([math.exp(-2.25), math.exp(-0.25), math.exp(-0.25)], dtype=F64)
    assert_close(phi, expect)


def test_default_grid_and_layernorm_before_basis() -> None:
    layer = FastKANLinear(4, 2, dtype=F64)
    assert_close(layer.centers, torch.linspace(-2, 2, 8, dtype=F64))
    x = torch.randn(3, 4, dtype=F64)
    z = torch.nn.functional.layer_norm(x, (4,))
    expect = torch.exp(-(((z[..., None] - layer.centers) * 7 / 4) ** 2))
    assert_close(layer.basis(x), expect)
    silu = x * torch.sigmoid(x)                                        # base uses the raw x
    manual = expect.reshape(3, -1) @ layer.spline_weight.flatten(1).T + layer.base(silu)
    assert_close(layer(x), manual)


def test_parameter_count_matches_fast_kan() -> None:
    model = kanlab.create_model("kan_mlp", widths=[784, 64, 10], layer="fast_kan")
    assert sum(p.numel() for p in model.parameters()) == 459_114       # kan.md §4


def test_gradcheck() -> None:
    torch.manual_seed(0)
    layer = FastKANLinear(3, 2, grid_size=4, dtype=F64)
    x = torch.randn(4, 3, dtype=F64, requires_grad=True)
    params = tuple(layer.parameters())

    def fn(inp: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        return layer(inp)

    assert torch.autograd.gradcheck(fn, (x, *params))


def _reference(layer: FastKANLinear, x: torch.Tensor) -> torch.Tensor:
    """The formula on plain autograd: phi(z) W_s^T + W_b b(x) + c."""
    y = layer.basis(x).reshape(x.shape[0], -1) @ layer.spline_weight.flatten(1).T
    if layer.base is not None and layer.base_activation is not None:
        y = y + layer.base(layer.base_activation(x))
    return y


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(
    ("base_activation", "use_layernorm"),
    [("silu", True), ("silu", False), ("softplus", True), (None, False)],
)
def test_fused_layer_matches_reference_with_gradients(
    base_activation: str | None, use_layernorm: bool, compiled: bool
) -> None:
    """The one-node kernel path (eager and torch.compile'd) equals the formula, gradients too."""
    torch.manual_seed(0)
    layer = FastKANLinear(5, 3, grid_size=4, base_activation=base_activation,
                          use_layernorm=use_layernorm, compile_kernels=compiled, dtype=F64)
    x = torch.randn(6, 5, dtype=F64, requires_grad=True)
    params = [x, *layer.parameters()]
    y, ref = layer(x), _reference(layer, x)
    assert_close(y, ref)
    for a, b in zip(torch.autograd.grad(y.sin().sum(), params),
                    torch.autograd.grad(ref.sin().sum(), params), strict=True):
        assert_close(a, b)


def test_without_base_branch() -> None:
    layer = FastKANLinear(3, 2, base_activation=None, use_layernorm=False)
    assert layer.base is None
    assert sum(p.numel() for p in layer.parameters()) == 2 * 3 * 8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid_size": 0}, "`grid_size` must be >= 1"),
        ({"grid_range": (2.0, -2.0)}, "`grid_range` must satisfy low < high"),
        ({"base_activation": "gelu_nope"}, "Unknown activation"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FastKANLinear(3, 2, **kwargs)  # type: ignore[arg-type]
