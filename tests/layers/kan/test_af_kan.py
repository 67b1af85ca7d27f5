import itertools
import math

import pytest
import torch
from torch import nn

from kanlab.layers.kan._af_kan_funcs import FUNCS
from kanlab.layers.kan._fused import _af_kan
from kanlab.layers.kan._fused._af_kan import ReducedBasis, fused_applies
from kanlab.layers.kan.af_kan import FUNC_NORMS, METHODS, NORMS, AFKANLinear
from kanlab.registry import ACTIVATIONS, LAYERS

F64 = torch.float64


def _silu(v: float) -> float:
    return v / (1 + math.exp(-v))


def _pair(func: str, a: float, b: float) -> float:
    return {
        "quad1": (a * b) ** 2,
        "quad2": a * b + a * a + b * b,
        "sum": a + b,
        "prod": a * b,
        "sum_prod": a + b + a * b,
        "cubic1": (a + b) * (a * a + b * b),
        "cubic2": (a * b) ** 3,
    }[func]


def _loop_basis(layer: AFKANLinear, x: torch.Tensor) -> list[list[list[float]]]:
    """F[n][d][m] by scalar loops (SiLU), straight from the paper's formula."""
    lows, highs = layer.low.tolist(), layer.high.tolist()
    return [
        [
            [
                _pair(layer.func, _silu(xv - lo), _silu(hi - xv))
                for lo, hi in zip(lows, highs, strict=True)
            ]
            for xv in row
        ]
        for row in x.tolist()
    ]


def _loop_z(layer: AFKANLinear, f: list[list[list[float]]]) -> torch.Tensor:
    """z[n][d] by scalar loops for every method."""
    out = []
    for fn in f:
        d_count, m_count = len(fn), len(fn[0])
        if layer.method == "multistep":
            w, c = layer.score_weight.tolist(), layer.score_bias.item()
            out.append([sum(w[m] * fn[d][m] for m in range(m_count)) + c for d in range(d_count)])
            continue
        tau = max(layer.temperature.item(), 1.0)
        if layer.method == "global_attn":
            w, c = layer.score_weight.tolist(), layer.score_bias.item()
            s = [sum(w[m] * fn[d][m] for m in range(m_count)) + c for d in range(d_count)]
            e = [math.exp(v / tau) for v in s]
            out.append([e[d] / sum(e) * sum(fn[d]) for d in range(d_count)])
            continue
        cw, cb = layer.conv_weight.tolist(), layer.conv_bias.tolist()
        row = []
        for d in range(d_count):
            s = []
            for m in range(m_count):
                acc = cb[m]
                for k in (-1, 0, 1):
                    if 0 <= d + k < d_count:
                        acc += cw[m][0][k + 1] * fn[d + k][m]
                s.append(acc / tau)
            e = [math.exp(v) for v in s]
            row.append(sum(e[m] / sum(e) * fn[d][m] for m in range(m_count)))
        out.append(row)
    return torch.tensor(out, dtype=F64)


def _layer(**kw: object) -> AFKANLinear:
    torch.manual_seed(0)
    kw.setdefault("dtype", F64)
    return AFKANLinear(kw.pop("d", 3), kw.pop("o", 2), **kw)  # type: ignore[arg-type]


X = torch.tensor([[-0.9, 0.1, 0.55], [0.3, 1.7, -0.2]], dtype=F64)


def test_registered_and_param_count_784_64_10() -> None:
    assert LAYERS.entry("af_kan").meta["kind"] == "linear"
    net = nn.Sequential(LAYERS.build("af_kan", 784, 64), LAYERS.build("af_kan", 64, 10))
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 52_552


def test_default_grid_follows_paper() -> None:
    layer = _layer()  # G = K = 3 on (0, 1)
    torch.testing.assert_close(layer.low, torch.arange(-3, 3, dtype=F64) / 3)
    torch.testing.assert_close(layer.high, (torch.arange(-3, 3, dtype=F64) + 4) / 3)
    assert layer.low.min().item() == pytest.approx(-1.0) and layer.high.max().item() == 2.0


@pytest.mark.parametrize("func", FUNCS)
def test_each_func_matches_scalar_formula(func: str) -> None:
    layer = _layer(func=func, grid_size=2, spline_order=1)
    torch.testing.assert_close(layer.basis(X), torch.tensor(_loop_basis(layer, X), dtype=F64))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("func", ["quad1", "cubic1"])
def test_each_method_matches_scalar_formula(method: str, func: str) -> None:
    layer = _layer(func=func, method=method, norm="none", grid_size=2, spline_order=1)
    z = _loop_z(layer, _loop_basis(layer, X))
    expected = torch.nn.functional.silu(z) @ layer.weight.detach().t()
    torch.testing.assert_close(layer(X), expected)


@pytest.mark.parametrize(
    ("func", "act"), list(itertools.product(FUNCS, ["silu", "relu", "gelu", "tanh", "identity"]))
)
@pytest.mark.parametrize("method", ["global_attn", "multistep"])
def test_fused_path_matches_reference(func: str, act: str, method: str) -> None:
    layer = _layer(func=func, method=method, base_activation=act, d=5, chunk_size=2)
    assert fused_applies(layer)
    x = torch.randn(7, 5, dtype=F64, requires_grad=True)
    fused = _af_kan.af_kan(layer, x)
    reference = layer.reference_rows(x)
    torch.testing.assert_close(fused, reference)
    params = [x, *(p for p in layer.parameters())]
    g1 = torch.autograd.grad(fused.sin().sum(), params, allow_unused=True)
    g2 = torch.autograd.grad(reference.sin().sum(), params, allow_unused=True)
    for a, b in zip(g1, g2, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("func", FUNCS)
def test_reduced_basis_gradcheck(func: str) -> None:
    form = ACTIVATIONS.build("silu").closed_form()
    torch.manual_seed(1)
    x = torch.randn(3, 2, dtype=F64, requires_grad=True)
    low = torch.linspace(-1, 0.5, 4, dtype=F64).requires_grad_()
    high = (low.detach() + 0.75).requires_grad_()
    weight = torch.randn(4, 1, dtype=F64, requires_grad=True)
    bias = torch.tensor(0.3, dtype=F64, requires_grad=True)
    # above 1 the temperature divides the scores; below, max(tau, 1) = 1 and its gradient is 0
    for temperature in (1.7, 0.6):
        tau = torch.tensor(temperature, dtype=F64, requires_grad=True)
        for with_sum in (True, False):
            inputs = (x, low, high, weight, bias, tau if with_sum else None)

            def fn(*t: torch.Tensor | None, s: bool = with_sum) -> torch.Tensor:
                out: torch.Tensor = ReducedBasis.apply(*t, func, form, s, False)
                return out

            assert torch.autograd.gradcheck(fn, inputs)
            assert torch.autograd.gradgradcheck(fn, inputs)


def test_fused_attention_gives_the_unfused_ops_bits() -> None:
    """Eagerly, the attention folded into the kernels (forward and hand-written backward) gives
    bit for bit what the projection followed by autograd's attention ops gives, so folding it
    in moved no eager (short) run."""
    form = ACTIVATIONS.build("silu").closed_form()
    assert form is not None
    torch.manual_seed(2)
    layer = _layer(d=40, o=3, dtype=torch.float32)
    x = torch.randn(16, 40, requires_grad=True)
    params = [x, layer.low, layer.high, layer.score_weight, layer.score_bias, layer.temperature]
    z = _af_kan.af_kan(layer, x)
    fused = (z, *torch.autograd.grad(z.sin().sum(), params))
    # the projection's hand-written backward behind autograd's attention ops (the old graph)
    weight = layer.score_weight.unsqueeze(-1).detach()
    opts = {"func": layer.func, "act": form, "with_sum": True, "shared_exp": False}
    total, projected = (t.requires_grad_() for t in _af_kan._project(
        x.detach(), layer.low.detach(), layer.high.detach(), weight, **opts))
    unfused_z = total * torch.softmax(
        (projected + layer.score_bias) * layer.inverse_temperature(), dim=-1)
    *moments, bias, tau = torch.autograd.grad(
        unfused_z.sin().sum(), [total, projected, layer.score_bias, layer.temperature])
    grad_x, low, high, grad_weight = _af_kan._project_backward(
        x.detach(), layer.low.detach(), layer.high.detach(), weight, tuple(moments),
        need_x=True, need_phases=True, need_weight=True, **opts)
    assert grad_weight is not None
    unfused = (unfused_z, grad_x, low, high, grad_weight.squeeze(-1), bias, tau)
    for a, b in zip(fused, unfused, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("func_norm", ["none", "sample"])
def test_layer_gradcheck(method: str, func_norm: str) -> None:
    layer = _layer(method=method, func_norm=func_norm, d=3, o=2)
    x = torch.randn(2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


def test_func_norm_sample_is_batch_independent() -> None:
    layer = _layer(func_norm="sample", norm="none", d=4)
    x = torch.randn(3, 4, dtype=F64)
    y = layer(x)
    x2 = x.clone()
    x2[1:] = 5 * torch.randn(2, 4, dtype=F64)
    torch.testing.assert_close(layer(x2)[0], y[0])
    f = layer.basis(x)
    assert torch.allclose(f.amin((1, 2)), torch.zeros(3, dtype=F64))
    assert torch.allclose(f.amax((1, 2)), torch.ones(3, dtype=F64))


def test_func_norm_batch_is_minmax_over_whole_batch() -> None:
    plain = _layer(d=4)
    batch = _layer(func_norm="batch", d=4)
    x = torch.randn(3, 4, dtype=F64)
    f = plain.basis(x)
    torch.testing.assert_close(batch.basis(x), (f - f.min()) / (f.max() - f.min()))
    x2 = x.clone()
    x2[1:] = 5 * x2[1:]
    assert not torch.allclose(batch(x2)[0], batch(x)[0])  # batch-dependent, as the authors'


def _differs(a: AFKANLinear, b: AFKANLinear, x: torch.Tensor, keep: str) -> bool:
    shared = {k: v for k, v in a.state_dict().items() if k != keep}
    b.load_state_dict(shared, strict=False)  # same weights wherever both have them
    return not torch.allclose(a(x), b(x))


@pytest.mark.parametrize(
    ("option", "values"),
    [
        ("func", FUNCS),
        ("method", METHODS),
        ("norm", NORMS),
        ("func_norm", FUNC_NORMS),
        ("base_activation", ["silu", "relu", "gelu", "tanh", "mish"]),
        ("temperature", [1.5, 4.0]),
    ],
)
def test_every_option_changes_the_output(option: str, values: tuple[object, ...]) -> None:
    x = torch.randn(6, 5, dtype=F64)
    layers = [_layer(d=5, o=3, **{option: v}) for v in values]
    for a, b in itertools.combinations(layers, 2):
        assert _differs(a, b, x, option), (option, a.extra_repr(), b.extra_repr())


@pytest.mark.parametrize(
    ("func", "method", "norm"), list(itertools.product(FUNCS, METHODS, NORMS))
)
def test_every_parameter_gets_a_gradient(func: str, method: str, norm: str) -> None:
    layer = _layer(func=func, method=method, norm=norm, d=4, o=3, dtype=torch.float32)
    layer(torch.randn(5, 4)).square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(p.grad).all()
    assert (layer.temperature is None) == (method == "multistep")
    assert (layer.conv_weight is not None) == (method == "spatial_attn")


def test_fixed_phases_are_buffers() -> None:
    layer = _layer(trainable_phases=False)
    names = {n for n, _ in layer.named_parameters()}
    assert "low" not in names and "low" in dict(layer.named_buffers())


def test_leading_dims_and_basis_shape() -> None:
    layer = _layer(d=4, o=3, grid_size=5)
    x = torch.randn(2, 3, 4, dtype=F64)
    assert layer(x).shape == (2, 3, 3)
    assert layer.basis(x).shape == (2, 3, 4, 8)
    torch.testing.assert_close(layer(x)[1], layer(x[1]))
    with pytest.raises(ValueError, match="last dim"):
        layer(torch.randn(2, 5, dtype=F64))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid_size": 0}, r"`grid_size` must be >= 1, but got grid_size=0"),
        ({"spline_order": -1}, r"`spline_order` must be >= 0, but got spline_order=-1"),
        ({"func": "quad3"}, r"`func` must be one of .*Did you mean 'quad"),
        ({"method": "global_atn"}, r"Did you mean 'global_attn'"),
        ({"norm": "layers"}, r"`norm` must be one of .*Did you mean 'layer'"),
        ({"func_norm": "samples"}, r"Did you mean 'sample'"),
        ({"grid_range": (1.0, 0.0)}, r"`grid_range` must satisfy low < high"),
        ({"temperature": 0.0}, r"`temperature` must be > 0"),
        ({"base_activation": "slu"}, r"Did you mean 'silu'"),
        ({"base_activation": "top_afa"}, r"`base_activation` must be an elementwise"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AFKANLinear(4, 3, **kwargs)  # type: ignore[arg-type]


def test_parameterised_activation_uses_autograd_path() -> None:
    layer = _layer(base_activation="prelu", d=4)
    assert not fused_applies(layer)
    layer(torch.randn(3, 4, dtype=F64)).sum().backward()
    assert all(p.grad is not None for p in layer.base_activation.parameters())


def test_chunk_size_gives_equal_results_and_gradients() -> None:
    plain, chunked = _layer(d=4), _layer(d=4, chunk_size=2)
    assert fused_applies(plain) and fused_applies(chunked)
    chunked.load_state_dict(plain.state_dict())
    x = torch.randn(5, 4, dtype=F64, requires_grad=True)
    y1, y2 = plain(x), chunked(x)
    torch.testing.assert_close(y2, y1)
    g1 = torch.autograd.grad(y1.sin().sum(), [x, *plain.parameters()])
    g2 = torch.autograd.grad(y2.sin().sum(), [x, *chunked.parameters()])
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("method", ["global_attn", "multistep"])
def test_compiled_kernels_match_eager(method: str) -> None:
    """torch.compile'd forward and backward kernels give the eager values and gradients."""
    torch.manual_seed(0)
    eager = AFKANLinear(6, 3, method=method, compile_kernels=False, dtype=F64)
    fused = AFKANLinear(6, 3, method=method, compile_kernels=True, dtype=F64)
    fused.load_state_dict(eager.state_dict())
    x = torch.randn(32, 6, dtype=F64, requires_grad=True)
    outs = []
    for layer in (eager, fused):
        y = layer(x)
        outs.append((y, *torch.autograd.grad(y.sin().sum(), [x, *layer.parameters()])))
    assert not any(kernel.failed for kernel in (
        _af_kan._REDUCE, _af_kan._REDUCE_BACKWARD, _af_kan._PROJECT_BACKWARD))
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("act", ["silu", "sigmoid"])
def test_shared_exponential_sigmoids_are_exact_at_extreme_inputs(act: str) -> None:
    """The shared e^{+-x} form of the kernels equals the plain one, saturated inputs included."""
    form = ACTIVATIONS.build(act).closed_form()
    assert form is not None
    x = torch.tensor([[-1e4, -100.0, -30.0, -1.0, 0.0, 0.3, 2.0, 30.0, 100.0, 1e4]])
    low = torch.linspace(-79.0, 3.0, 5)
    high = low + torch.tensor([0.5, 2.0, 40.0, 1.0, 76.0])
    weight = torch.randn(5, 1)
    grads = (torch.randn_like(x), torch.randn_like(x))
    opts = {"func": "quad2", "act": form, "with_sum": True}
    for plain, shared in zip(
        _af_kan._project(x, low, high, weight, shared_exp=False, **opts),
        _af_kan._project(x, low, high, weight, shared_exp=True, **opts),
        strict=True,
    ):
        torch.testing.assert_close(shared, plain)
    flags = {"need_x": True, "need_phases": True, "need_weight": True}
    for plain, shared in zip(
        _af_kan._project_backward(x, low, high, weight, grads, shared_exp=False, **opts,
                                        **flags),
        _af_kan._project_backward(x, low, high, weight, grads, shared_exp=True, **opts,
                                        **flags),
        strict=True,
    ):
        torch.testing.assert_close(shared, plain)
