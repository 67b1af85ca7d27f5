from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import kanlab
from kanlab.layers.kan.b_spline_kan import BSplineKANLinear

F64 = torch.float64


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def test_formula_on_hat_basis() -> None:
    layer = BSplineKANLinear(1, 1, grid_size=2, spline_order=1, dtype=F64)  # hats at -1, 0, 1
    with torch.no_grad():
        layer.base_weight.fill_(0.5)
        layer.spline_weight.copy_(torch.tensor([[[1.0, 2.0, 3.0]]]))
        layer.spline_scaler.fill_(2.0)
    x = torch.tensor([[0.5], [-1.0]], dtype=F64)
    silu = x * torch.sigmoid(x)
    expect = 0.5 * silu + 2.0 * torch.tensor([[2.5], [1.0]], dtype=F64)
    assert_close(layer(x), expect)


def test_parameter_count_matches_efficient_kan() -> None:
    model = kanlab.create_model("kan_mlp", widths=[784, 64, 10], layer="b_spline_kan")
    assert _count(model) == 508_160                                  # kan.md §4, G=5 K=3
    g3 = kanlab.create_model("kan_mlp", widths=[784, 64, 10],
                             layer={"name": "b_spline_kan", "grid_size": 3})
    assert _count(g3) == 406_528


def test_closed_form_and_cox_de_boor_paths_agree() -> None:
    torch.manual_seed(0)
    layer = BSplineKANLinear(5, 3, dtype=F64)
    x = (torch.rand(7, 5, dtype=F64) * 2.4 - 1.2).requires_grad_()
    y_fast = layer(x)
    g_fast = torch.autograd.grad(y_fast.sum(), [x, layer.spline_weight])
    layer.uniform_grid = False                                       # force Cox–de Boor
    y_ref = layer(x)
    g_ref = torch.autograd.grad(y_ref.sum(), [x, layer.spline_weight])
    assert_close(y_fast, y_ref)
    assert_close(g_fast, g_ref)


@pytest.mark.parametrize("uniform", [True, False])
def test_gradcheck(uniform: bool) -> None:
    torch.manual_seed(0)
    layer = BSplineKANLinear(3, 2, grid_size=3, bias=True, dtype=F64)
    layer.uniform_grid = uniform
    x = (torch.rand(4, 3, dtype=F64) * 1.8 - 0.9).requires_grad_()
    params = (layer.base_weight, layer.spline_weight, layer.spline_scaler)

    def fn(inp: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        return layer(inp)

    assert torch.autograd.gradcheck(fn, (x, *params))


def test_update_grid_keeps_the_function() -> None:
    torch.manual_seed(0)
    layer = BSplineKANLinear(4, 3, dtype=F64)
    x = torch.rand(256, 4, dtype=F64) * 1.6 - 0.8                      # inside the grid
    before = layer(x)
    old_grid = layer.grid.clone()
    layer.update_grid(x)
    assert not torch.equal(layer.grid, old_grid) and not layer.uniform_grid
    assert (layer(x) - before).abs().max() < 1e-3
    fresh = BSplineKANLinear(4, 3, dtype=F64)
    fresh.load_state_dict(layer.state_dict())                         # grid travels, path too
    assert not fresh.uniform_grid
    assert_close(fresh(x), layer(x))


def test_regularization_loss_finite_and_differentiable() -> None:
    layer = BSplineKANLinear(4, 3)
    loss = layer.regularization_loss(1.0, 0.5)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert layer.spline_weight.grad is not None and torch.isfinite(layer.spline_weight.grad).all()
    with torch.no_grad():
        layer.spline_weight.zero_()
    assert torch.isfinite(layer.regularization_loss())


def test_chunks_match_one_pass() -> None:
    torch.manual_seed(0)
    layer = BSplineKANLinear(5, 3)
    x = torch.randn(10, 5, requires_grad=True)
    y = layer(x)
    (gx,) = torch.autograd.grad(y.sum(), x)
    layer.chunk_size = 3
    y3 = layer(x)
    (gx3,) = torch.autograd.grad(y3.sum(), x)
    assert_close(y3, y)
    assert_close(gx3, gx)


def test_no_base_branch_and_no_scaler() -> None:
    layer = BSplineKANLinear(4, 2, base_activation=None, standalone_scaler=False)
    assert layer.base_weight is None and layer.spline_scaler is None
    assert _count(layer) == 2 * 4 * 8
    assert layer(torch.randn(3, 4)).shape == (3, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid_size": 0}, "`grid_size` must be >= 1, but got grid_size=0"),
        ({"spline_order": -1}, "`spline_order` must be >= 0, but got spline_order=-1"),
        ({"grid_range": (1.0, -1.0)}, "`grid_range` must satisfy low < high"),
        ({"grid_range": (1.0,)}, "`grid_range` must be a pair"),
        ({"base_activation": "sillu"}, "Did you mean 'silu'"),
        ({"grid_eps": 2.0}, "`grid_eps` must be in"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BSplineKANLinear(3, 2, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("base_activation", ["silu", "softplus"])
def test_compiled_kernels_match_eager(base_activation: str) -> None:
    """Outputs and every gradient agree between the eager and the torch.compile'd kernels."""
    torch.manual_seed(0)
    layer = BSplineKANLinear(6, 3, base_activation=base_activation, bias=True, dtype=F64)
    x = (torch.rand(16, 6, dtype=F64) * 2.4 - 1.2).requires_grad_()
    results = []
    for compiled in (False, True):
        layer.compile_kernels = compiled
        y = layer(x)
        results.append((y, *torch.autograd.grad(y.sin().sum(), [x, *layer.parameters()])))
    for eager, fused in zip(*results, strict=True):
        assert_close(fused, eager)


def test_update_grid_with_repeated_knots_stays_finite() -> None:
    layer = BSplineKANLinear(2, 2, grid_eps=0.0)
    x = torch.tensor([[0.1, 0.2], [0.1, 0.2], [0.5, 0.3]])           # quantiles repeat
    layer.update_grid(x)
    assert torch.isfinite(layer(x)).all()
    with pytest.raises(ValueError, match="`margin` must be >= 0"):
        layer.update_grid(x, margin=-1.0)


def test_after_grid_update_gradcheck_and_compiled_path_agree() -> None:
    """The knot-based (Cox–de Boor) path: exact gradients, and compiled == eager."""
    torch.manual_seed(0)
    layer = BSplineKANLinear(4, 3, grid_size=3, bias=True, dtype=F64)
    layer.update_grid(torch.randn(64, 4, dtype=F64))
    assert not layer.uniform_grid
    x = torch.randn(5, 4, dtype=F64, requires_grad=True)
    params = tuple(layer.parameters())
    assert torch.autograd.gradcheck(lambda inp, *_: layer(inp), (x, *params))
    results = []
    for compiled in (False, True):
        layer.compile_kernels = compiled
        y = layer(x)
        results.append((y, *torch.autograd.grad(y.sin().sum(), [x, *params])))
    for eager, fused in zip(*results, strict=True):
        assert_close(fused, eager)


def test_old_input_major_state_dict_loads_and_gives_same_output() -> None:
    # Checkpoints written before the basis-major storage hold a contiguous (O, D, M) weight.
    torch.manual_seed(0)
    src = BSplineKANLinear(5, 3, grid_size=4, dtype=F64)
    old = {k: v.contiguous().clone() for k, v in src.state_dict().items()}
    assert old["spline_weight"].shape == (3, 5, 7) and old["spline_weight"].is_contiguous()
    dst = BSplineKANLinear(5, 3, grid_size=4, dtype=F64)
    dst.load_state_dict(old)
    assert dst.spline_weight.transpose(1, 2).is_contiguous()  # still stored basis-major
    assert_close(dst.spline_weight, old["spline_weight"], rtol=0, atol=0)
    x = torch.rand(16, 5, dtype=F64) * 2 - 1
    assert_close(dst(x), src(x), rtol=0, atol=0)
    assert_close(dst(x), dst.reference_rows(x))
    assert dst.state_dict()["spline_weight"].shape == (3, 5, 7)


def test_input_major_weight_gives_the_same_values_and_gradients() -> None:
    # A layer whose weight lost its basis-major storage (e.g. load_state_dict(assign=True))
    # takes the strided path: same forward and gradients.
    torch.manual_seed(1)
    bm = BSplineKANLinear(4, 3, grid_size=3, dtype=F64)
    im = BSplineKANLinear(4, 3, grid_size=3, dtype=F64)
    im.load_state_dict({k: v.contiguous() for k, v in bm.state_dict().items()}, assign=True)
    assert im.spline_weight.is_contiguous() and not bm.spline_weight.is_contiguous()
    x = torch.rand(9, 4, dtype=F64) * 2 - 1
    grads = []
    for layer in (bm, im):
        y = layer(x)
        params = [layer.base_weight, layer.spline_weight, layer.spline_scaler]
        grads.append(torch.autograd.grad((y * y).sum(), params))
    for g_bm, g_im in zip(*grads, strict=True):
        assert_close(g_bm, g_im)
