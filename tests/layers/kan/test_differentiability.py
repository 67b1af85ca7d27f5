"""Every KAN layer is differentiable to any order, on every path, and under torch.func.

The fused layers run hand-written kernels with a first-order backward; gradients taken with
``create_graph=True`` must come out differentiable (gradgradcheck), and torch.func transforms
must see the reference formula (same values as the fused forward).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.func import functional_call

from kanlab.layers.kan._af_kan_funcs import FUNCS
from kanlab.layers.kan.af_kan import FUNC_NORMS, METHODS
from kanlab.registry import LAYERS

F64 = torch.float64
KAN_LAYERS = sorted(
    name for name in LAYERS.names()
    if LAYERS.entry(name).target.__module__.startswith("kanlab.layers.kan.")
)
LINEAR = [n for n in KAN_LAYERS if LAYERS.entry(n).meta.get("kind") == "linear"]
FUSED = [n for n in LINEAR if hasattr(LAYERS.get(n), "reference_rows")]
# gr_kan's GELU fit puts one denominator coefficient at ~0, where |b| has a kink that finite
# differences cannot check; its tanh fit keeps every |b_j| > 1e-5.
SMOOTH: dict[str, dict[str, object]] = {"gr_kan": {"init": "tanh"}}


def _layer(name: str, **hp: object) -> tuple[nn.Module, torch.Tensor]:
    """A small float64 layer and an input inside its grid (conv: 2x2 windows, two chunks)."""
    torch.manual_seed(0)
    if LAYERS.entry(name).meta.get("kind") == "conv2d":
        layer = LAYERS.build({"name": name, "chunk_size": 3, **hp}, 1, 2, 2, dtype=F64)
        return layer, torch.rand(1, 1, 3, 3, dtype=F64) * 1.6 - 0.8
    layer = LAYERS.build({"name": name, **SMOOTH.get(name, {}), **hp}, 3, 2, dtype=F64)
    return layer, torch.rand(4, 3, dtype=F64) * 0.8 + 0.1


def _reference(layer: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The layer's forward with its fused rows swapped for ``reference_rows`` (the formula)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        layer.forward_rows = layer.reference_rows  # type: ignore[method-assign]
        try:
            out: torch.Tensor = layer(x)
        finally:
            del layer.forward_rows
        return out

    return forward


def _as_function(layer: nn.Module) -> tuple[Callable[..., torch.Tensor], list[torch.Tensor]]:
    """``fn(x, *params)`` calling ``layer`` with those parameters, and the parameters."""
    names = [n for n, p in layer.named_parameters() if p.requires_grad]
    params = [p.detach().clone().requires_grad_() for n, p in layer.named_parameters()
              if p.requires_grad]

    def fn(x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = functional_call(layer, dict(zip(names, ps, strict=True)), (x,))
        return out

    return fn, params


def _gradgradcheck(layer: nn.Module, x: torch.Tensor) -> None:
    fn, params = _as_function(layer)
    inputs = (x.requires_grad_(), *params)
    assert torch.autograd.gradcheck(fn, inputs, fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, inputs, fast_mode=True)


@pytest.mark.parametrize("name", KAN_LAYERS)
def test_gradgradcheck_every_registered_kan_layer(name: str) -> None:
    _gradgradcheck(*_layer(name))


@pytest.mark.parametrize("name", ["b_spline_kan", "kan_conv2d"])
def test_gradgradcheck_after_update_grid(name: str) -> None:
    layer, x = _layer(name)
    layer.update_grid(torch.randn(64, 3, dtype=F64) if x.dim() == 2 else torch.randn(4, 1, 3, 3,
                                                                                     dtype=F64))
    assert "uniform_grid=False" in repr(layer)
    _gradgradcheck(layer, x)


AF_KAN_CASES = sorted(
    {(f, "global_attn", "none") for f in FUNCS}
    | {(f, m, "none") for f in ("quad1", "cubic2") for m in METHODS}
    | {("quad1", m, n) for m in METHODS for n in FUNC_NORMS}
)


@pytest.mark.parametrize(("func", "method", "func_norm"), AF_KAN_CASES)
def test_gradgradcheck_af_kan_funcs_methods_and_func_norms(
    func: str, method: str, func_norm: str
) -> None:
    """Every func on the fused path, every method x func_norm (the full product: slow)."""
    _gradgradcheck(*_layer("af_kan", func=func, method=method, func_norm=func_norm))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("func", "method", "func_norm"), list(itertools.product(FUNCS, METHODS, FUNC_NORMS))
)
def test_gradgradcheck_af_kan_every_func_method_and_func_norm(
    func: str, method: str, func_norm: str
) -> None:
    _gradgradcheck(*_layer("af_kan", func=func, method=method, func_norm=func_norm))


@pytest.mark.parametrize("act", ["relu", "gelu", "tanh", "softplus", "prelu"])
@pytest.mark.parametrize("name", ["b_spline_kan", "fast_kan", "af_kan"])
def test_gradgradcheck_with_other_base_activations(name: str, act: str) -> None:
    """Closed-form activations run inside the kernels, the others on autograd outside."""
    _gradgradcheck(*_layer(name, base_activation=act))


@pytest.mark.parametrize("name", FUSED)
def test_chunked_rows_are_differentiable_twice(name: str) -> None:
    _gradgradcheck(*_layer(name, chunk_size=2))


@pytest.mark.parametrize("name", FUSED)
def test_second_derivative_matches_the_reference_formula(name: str) -> None:
    """d2/dx2 through the fused forward equals that of ``reference_rows``, and is not zero."""
    layer, x = _layer(name)
    results = []
    for forward in (layer, _reference(layer)):
        v = x.clone().requires_grad_()
        (d1,) = torch.autograd.grad(forward(v).sin().sum(), v, create_graph=True)
        (d2,) = torch.autograd.grad(d1.square().sum(), v, create_graph=True)
        grads = torch.autograd.grad(d2.sum(), list(layer.parameters()), allow_unused=True)
        results.append((d1, d2, *grads))
    for fused, reference in zip(*results, strict=True):
        assert (fused is None) == (reference is None)
        if fused is not None:
            torch.testing.assert_close(fused, reference)
    assert results[0][1].abs().max() > 0


@pytest.mark.parametrize("name", KAN_LAYERS)
def test_jacrev_jacfwd_and_vmap_match_autograd(name: str) -> None:
    layer, x = _layer(name)
    expected = torch.autograd.functional.jacobian(layer, x)         # fused path, plain backward
    torch.testing.assert_close(torch.func.jacrev(layer)(x), expected)
    torch.testing.assert_close(torch.func.jacfwd(layer)(x), expected)
    torch.testing.assert_close(torch.func.vmap(layer)(x), layer(x))
    per_sample = torch.func.vmap(torch.func.jacrev(layer))(x)       # (B, *out, *in) per row
    torch.testing.assert_close(per_sample, torch.stack(
        [torch.autograd.functional.jacobian(layer, row) for row in x]))


@pytest.mark.parametrize("name", FUSED)
def test_torch_func_runs_the_reference_formula(name: str) -> None:
    layer, x = _layer(name)
    reference = torch.autograd.functional.jacobian(_reference(layer), x)
    torch.testing.assert_close(torch.func.jacrev(layer)(x), reference)
    hessian = torch.func.hessian(lambda v: layer(v).sin().sum())(x)
    v = x.clone().requires_grad_()
    (d1,) = torch.autograd.grad(_reference(layer)(v).sin().sum(), v, create_graph=True)
    rows = [torch.autograd.grad(d1.flatten()[i], v, retain_graph=True)[0]
            for i in range(x.numel())]
    torch.testing.assert_close(hessian.reshape(x.numel(), -1), torch.stack(rows).flatten(1))
    fn, params = _as_function(layer)
    grads = torch.func.grad(lambda ps: fn(x, *ps).sin().sum())(tuple(params))
    expected = torch.autograd.grad(fn(x, *params).sin().sum(), params)
    torch.testing.assert_close(grads, expected)


@pytest.mark.parametrize("name", FUSED)
def test_forward_mode_ad_matches_backward_mode(name: str) -> None:
    import torch.autograd.forward_ad as fwad

    layer, x = _layer(name)
    tangent = torch.randn_like(x)
    with fwad.dual_level():
        out = layer(fwad.make_dual(x, tangent))
        jvp = fwad.unpack_dual(out).tangent
    expected = torch.autograd.functional.jvp(layer, x, tangent)[1]
    torch.testing.assert_close(jvp, expected)


@pytest.mark.parametrize("name", ["b_spline_kan", "af_kan", "kan_conv2d"])
def test_functional_call_with_other_parameters_through_chunks(name: str) -> None:
    """Chunks are not recomputed from the module's own parameters under functional_call."""
    layer, x = _layer(name, chunk_size=2)
    other, _ = _layer(name, chunk_size=2)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    params = {n: p.detach().clone().requires_grad_() for n, p in other.named_parameters()}
    y = functional_call(layer, params, (x,))
    grads = torch.autograd.grad(y.sin().sum(), list(params.values()))
    expected = torch.autograd.grad(other(x).sin().sum(), list(other.parameters()))
    torch.testing.assert_close(y, other(x))
    torch.testing.assert_close(grads, expected)
