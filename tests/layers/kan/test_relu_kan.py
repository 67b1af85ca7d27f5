from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import kanlab
from kanlab.layers.kan.relu_kan import ReLUKANLinear

F64 = torch.float64


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def test_bump_values_by_hand() -> None:
    layer = ReLUKANLinear(1, 1, grid_size=1, spline_order=0, dtype=F64)  # s=0, e=1, r=4
    x = torch.tensor([[0.5], [0.25], [0.0], [1.2]], dtype=F64)
    expect = torch.tensor([1.0, (4 * 0.25 * 0.75) ** 2, 0.0, 0.0], dtype=F64)
    assert_close(layer.basis(x)[:, 0, 0], expect)


@pytest.mark.parametrize(("g", "k"), [(5, 3), (3, 3), (4, 1)])
def test_bump_peak_is_one_at_interval_centre(g: int, k: int) -> None:
    layer = ReLUKANLinear(1, 1, grid_size=g, spline_order=k, dtype=F64)
    centres = (layer.phase_low + layer.phase_high) / 2                 # (1, G+K)
    bumps = layer.basis(centres.reshape(-1, 1))                        # (G+K, 1, G+K)
    assert_close(torch.diagonal(bumps[:, 0, :]), torch.ones(g + k, dtype=F64))
    assert bumps.max() <= 1.0 + 1e-12
    assert_close(layer.phase_low[0, 0], torch.tensor(-k / g, dtype=F64))  # support [-K/G, ...]


def test_formula_against_loop() -> None:
    torch.manual_seed(0)
    layer = ReLUKANLinear(3, 2, grid_size=2, spline_order=2, dtype=F64)
    x = torch.rand(4, 3, dtype=F64)
    r = (2 * 2 / 3) ** 2
    expect = layer.bias.expand(4, 2).clone()
    w = layer.weight.reshape(2, 3, 4)
    for b in range(4):
        for i in range(3):
            for m in range(4):
                s, e = layer.phase_low[i, m], layer.phase_high[i, m]
                bump = (r * torch.relu(x[b, i] - s) * torch.relu(e - x[b, i])) ** 2
                expect[b] = expect[b] + w[:, i, m] * bump
    assert_close(layer(x), expect)


def test_parameter_counts_match_reference() -> None:
    g5 = kanlab.create_model("kan_mlp", widths=[784, 64, 10], layer="relu_kan")
    assert _count(g5) == 420_170                                     # kan.md §4
    g3 = kanlab.create_model("kan_mlp", widths=[784, 64, 10],
                             layer={"name": "relu_kan", "grid_size": 3})
    assert _count(g3) == 315_146


def test_gradcheck() -> None:
    torch.manual_seed(0)
    layer = ReLUKANLinear(3, 2, grid_size=3, spline_order=2, dtype=F64)
    x = torch.rand(4, 3, dtype=F64).requires_grad_()

    def fn(inp: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        return layer(inp)

    assert torch.autograd.gradcheck(fn, (x, layer.phase_low, layer.phase_high, layer.weight))


@pytest.mark.parametrize("compiled", [False, True])
def test_fused_layer_matches_reference_with_gradients(compiled: bool) -> None:
    """The one-node kernel path (eager and torch.compile'd) equals the formula, gradients too."""
    torch.manual_seed(0)
    layer = ReLUKANLinear(5, 3, grid_size=3, spline_order=2, compile_kernels=compiled, dtype=F64)
    x = (torch.rand(7, 5, dtype=F64) * 1.6 - 0.3).requires_grad_()    # also outside the grid
    params = [x, *layer.parameters()]
    y = layer(x)
    ref = torch.nn.functional.linear(
        layer.basis(x).reshape(7, -1), layer.weight.flatten(1), layer.bias
    )                                                                   # plain autograd
    torch.testing.assert_close(y, ref)
    for a, b in zip(torch.autograd.grad(y.sin().sum(), params),
                    torch.autograd.grad(ref.sin().sum(), params), strict=True):
        torch.testing.assert_close(a, b)


def test_frozen_phases() -> None:
    layer = ReLUKANLinear(3, 2, trainable_phases=False)
    assert not layer.phase_low.requires_grad
    assert _count(layer) == 2 * 3 * 8 + 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid_size": 0}, "`grid_size` must be >= 1"),
        ({"spline_order": -1}, "`spline_order` must be >= 0"),
        ({"grid_range": (0.0, 0.0)}, "`grid_range` must satisfy low < high"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ReLUKANLinear(3, 2, **kwargs)  # type: ignore[arg-type]
