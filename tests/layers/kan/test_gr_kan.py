from __future__ import annotations

import pytest
import torch
from torch.func import functional_call
from torch.testing import assert_close

import kanlab  # noqa: F401  (fills the registries)
from kanlab.layers.kan._rational import fit_rational, rational_gain
from kanlab.layers.kan.gr_kan import GRKANLinear
from kanlab.registry import LAYERS

F64 = torch.float64


def _by_hand(x: float, a: list[float], b: list[float]) -> float:
    p = sum(ai * x**i for i, ai in enumerate(a))
    q = 1 + sum(abs(bj) * abs(x) ** (j + 1) for j, bj in enumerate(b))
    return p / q


def test_reference_rows_match_a_hand_computed_rational() -> None:
    layer = GRKANLinear(4, 1, num_groups=2, bias=False, dtype=F64)
    a = [0.1, -0.5, 0.25, 0.3, -0.05, 0.02]
    b = [[0.5, -0.2, 0.1, 0.03], [-1.0, 0.0, 0.4, -0.01]]               # group 0: ch 0,1
    w = [1.0, -2.0, 0.5, 3.0]
    with torch.no_grad():
        layer.numerator.copy_(torch.tensor(a))
        layer.denominator.copy_(torch.tensor(b))
        layer.weight.copy_(torch.tensor([w]))
    x = [[0.7, -1.3, 2.1, -0.4], [0.0, 3.0, -2.5, 1.0]]
    got = layer.reference_rows(torch.tensor(x, dtype=F64))[:, 0]
    expect = [sum(w[i] * _by_hand(row[i], a, b[i // 2]) for i in range(4)) for row in x]
    assert_close(got, torch.tensor(expect, dtype=F64))
    assert_close(layer(torch.tensor(x, dtype=F64))[:, 0], got)           # fused: same values


def test_parameters_groups_and_count() -> None:
    layer = GRKANLinear(16, 3)
    assert layer.numerator.shape == (6,) and layer.denominator.shape == (8, 4)
    assert layer.group_index.tolist() == [i // 2 for i in range(16)]      # contiguous, KAT
    assert sum(p.numel() for p in layer.parameters()) == 6 + 4 * 8 + 17 * 3
    uneven = GRKANLinear(5, 2, num_groups=2)                             # groups of 3 and 2
    assert uneven.group_index.tolist() == [0, 0, 0, 1, 1]
    assert GRKANLinear(3, 2).num_groups == 3                              # capped at D


@pytest.mark.parametrize("init", ["identity", "gelu", "silu"])
def test_init_fits_the_activation_and_preserves_variance(init: str) -> None:
    torch.manual_seed(0)
    layer = GRKANLinear(256, 256, init=init, dtype=F64)
    x = torch.linspace(-3, 3, 601, dtype=F64).unsqueeze(1).expand(-1, 256)
    target = kanlab.registry.ACTIVATIONS.build(init).double()(x)
    assert (layer.rational(x) - target).abs().max() < 5e-3
    with torch.no_grad():
        var = float(layer(torch.randn(4096, 256, dtype=F64)).var())
    assert abs(var - 1.0) < 0.1                       # KAT's gain
    assert (layer.denominator == layer.denominator[0]).all()             # every group alike


def test_identity_fit_is_exact_and_gains_match_kat() -> None:
    assert fit_rational("identity") == ((0.0, 1.0, 0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0))
    for name, kat in (("gelu", 2.3567850379928976), ("silu", 2.8178205270359653)):
        a, b = (torch.tensor(c, dtype=F64) for c in fit_rational(name))
        assert abs(rational_gain(a, b) ** 2 - kat) / kat < 0.01         # KAT's calculate_gain


def _perturbed(**kw: object) -> GRKANLinear:
    torch.manual_seed(0)
    layer = GRKANLinear(6, 3, num_groups=3, dtype=F64, **kw)  # type: ignore[arg-type]
    with torch.no_grad():
        layer.denominator.add_(torch.randn(3, 4, dtype=F64) * 0.1)
        layer.bias.add_(torch.randn(3, dtype=F64))  # type: ignore[union-attr]
    return layer


@pytest.mark.parametrize("init", ["gelu", "identity", "relu"])
def test_fused_layer_matches_reference_with_gradients(init: str) -> None:
    layer = _perturbed(init=init)
    x = torch.randn(2, 5, 6, dtype=F64, requires_grad=True)
    params = [x, *layer.parameters()]
    y = layer(x)
    ref = layer.reference_rows(x.reshape(-1, 6)).reshape(2, 5, 3)
    assert_close(y, ref)
    for a, b in zip(torch.autograd.grad(y.sin().sum(), params),
                    torch.autograd.grad(ref.sin().sum(), params), strict=True):
        assert_close(a, b)


def test_zero_denominator_still_gets_a_gradient() -> None:
    layer = GRKANLinear(4, 2, num_groups=2, init="identity", dtype=F64)
    assert (layer.denominator == 0).all()
    layer(torch.randn(8, 4, dtype=F64)).square().sum().backward()
    assert layer.denominator.grad is not None and (layer.denominator.grad != 0).any()


def test_gradcheck_and_gradgradcheck_float64() -> None:
    layer = _perturbed()
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def fn(x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = functional_call(layer, dict(zip(names, ps, strict=True)), (x,))
        return out

    x = torch.randn(4, 6, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x, *params))
    assert torch.autograd.gradgradcheck(fn, (x, *params))


@pytest.mark.slow
def test_compiled_kernels_match_reference() -> None:
    layer = _perturbed(compile_kernels=True)
    x = torch.randn(7, 6, dtype=F64, requires_grad=True)
    params = [x, *layer.parameters()]
    y, ref = layer(x), layer.reference_rows(x)
    assert_close(y, ref)
    for a, b in zip(torch.autograd.grad(y.sum(), params),
                    torch.autograd.grad(ref.sum(), params), strict=True):
        assert_close(a, b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_groups": 0}, "`num_groups` must be >= 1"),
        ({"init": "gelo"}, "Did you mean 'gelu'"),
        ({"init": "topk"}, "`init` must be an elementwise activation"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GRKANLinear(4, 2, **kwargs)  # type: ignore[arg-type]


def test_registered_as_linear_layer() -> None:
    assert LAYERS.entry("gr_kan").meta["kind"] == "linear"
    layer = LAYERS.build({"name": "gr_kan", "num_groups": 2, "init": "silu"}, 4, 3)
    assert isinstance(layer, GRKANLinear) and layer.init == "silu"


def test_fused_backward_reduces_per_group_without_scatter() -> None:
    """The shared coefficients' gradients are reductions (sums, a membership matmul), not a
    scatter / index_add accumulation (KAT's CUDA kernel: atomic adds per element)."""
    from torch.profiler import profile

    layer = GRKANLinear(8, 3, num_groups=4)
    y = layer(torch.randn(16, 8, requires_grad=True)).square().sum()
    with profile() as prof:
        y.backward()
    ops = {e.key for e in prof.key_averages()}
    assert not {o for o in ops if any(s in o for s in ("scatter", "index_add", "index_put"))}
    assert layer.denominator.grad is not None and layer.denominator.grad.shape == (4, 4)
    ref = GRKANLinear(8, 3, num_groups=4)
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(16, 8)
    for a, b in ((layer, layer.forward), (ref, ref.reference_rows)):
        a.zero_grad()
        b(x).square().sum().backward()
    assert_close(layer.denominator.grad, ref.denominator.grad)
    assert_close(layer.numerator.grad, ref.numerator.grad)
