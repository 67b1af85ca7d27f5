from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from kanlab.layers.kan._wavelets import SLOPES
from kanlab.layers.kan.wav_kan import WAVELETS, WavKANLinear

F64 = torch.float64


def test_wavelet_values_by_hand() -> None:
    t = torch.tensor([0.0, 1.0], dtype=F64)
    norm = 2 / (math.sqrt(3) * math.pi**0.25)
    assert_close(WAVELETS["mexican_hat"](t), torch.tensor([norm, 0.0], dtype=F64))
    morlet_1 = math.cos(5) * math.exp(-0.5)
    assert_close(WAVELETS["morlet"](t), torch.tensor([1.0, morlet_1], dtype=F64))
    assert_close(WAVELETS["dog"](t), torch.tensor([0.0, -math.exp(-0.5)], dtype=F64))


def test_slopes_by_hand_and_against_autograd() -> None:
    """psi'(t) of the fused backward: by hand at t = 0 and 1, and autograd's elsewhere."""
    norm = 2 / (math.sqrt(3) * math.pi**0.25)
    t = torch.tensor([0.0, 1.0], dtype=F64)
    assert_close(SLOPES["mexican_hat"](t), torch.tensor([0.0, -2 * norm * math.exp(-0.5)],
                                                        dtype=F64))
    assert_close(SLOPES["morlet"](t), torch.tensor(
        [0.0, -(5 * math.sin(5) + math.cos(5)) * math.exp(-0.5)], dtype=F64))
    assert_close(SLOPES["dog"](t), torch.tensor([-1.0, 0.0], dtype=F64))
    grid = torch.linspace(-4, 4, 161, dtype=F64, requires_grad=True)
    for name, psi in WAVELETS.items():
        (expected,) = torch.autograd.grad(psi(grid).sum(), grid)
        assert_close(SLOPES[name](grid.detach()), expected)


def test_basis_translations_and_scales() -> None:
    layer = WavKANLinear(1, 1, grid_size=3, wavelet="dog", dtype=F64)  # tau=-1,0,1; sigma=1
    assert_close(layer.translation[0], torch.tensor([-1.0, 0.0, 1.0], dtype=F64))
    phi = layer.basis(torch.tensor([[1.0]], dtype=F64))[0, 0]
    expect = WAVELETS["dog"](torch.tensor([2.0, 1.0, 0.0], dtype=F64))
    assert_close(phi, expect)


@pytest.mark.parametrize("wavelet", sorted(WAVELETS))
def test_gradcheck(wavelet: str) -> None:
    torch.manual_seed(0)
    layer = WavKANLinear(3, 2, grid_size=3, wavelet=wavelet, dtype=F64)
    x = torch.randn(4, 3, dtype=F64, requires_grad=True)
    params = tuple(layer.parameters())

    def fn(inp: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        return layer(inp)

    assert torch.autograd.gradcheck(fn, (x, *params))


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(("wavelet", "base_activation"), [
    ("mexican_hat", "silu"), ("morlet", "silu"), ("dog", "softplus"), ("mexican_hat", None),
])
def test_fused_layer_matches_reference_with_gradients(
    wavelet: str, base_activation: str | None, compiled: bool
) -> None:
    """Compiled, the one-node kernel path equals the formula, gradients of the input,
    weights, translations and scales too (a base activation without a closed form, softplus,
    runs on autograd outside the kernel); with ``compile_kernels=False`` the layer runs the
    formula itself."""
    torch.manual_seed(0)
    layer = WavKANLinear(5, 3, grid_size=4, wavelet=wavelet, base_activation=base_activation,
                         compile_kernels=compiled, dtype=F64)
    with torch.no_grad():
        layer.scale.mul_(torch.rand_like(layer.scale) + 0.5)      # distinct scales per entry
        layer.translation.add_(torch.randn_like(layer.translation) * 0.1)
    x = torch.randn(6, 5, dtype=F64, requires_grad=True)
    params = [x, *layer.parameters()]
    y, ref = layer(x), layer.reference_rows(x)
    assert y.grad_fn is not None                                  # (a view of) the fused node
    fused = "WaveletLinear" in type(y.grad_fn.next_functions[0][0]).__name__
    assert fused == compiled
    assert_close(y, ref)
    for a, b in zip(torch.autograd.grad(y.sin().sum(), params),
                    torch.autograd.grad(ref.sin().sum(), params), strict=True):
        assert_close(a, b)


def _fused_call(layer: WavKANLinear, x: torch.Tensor, *, compiled: bool) -> torch.Tensor:
    """The layer through :class:`WaveletLinear` (eager kernels with ``compiled=False``)."""
    from kanlab.layers.kan._fused._function import closed_form_of
    from kanlab.layers.kan._fused._wavelet import WaveletLinear

    out = WaveletLinear.apply(
        x, None, layer.base_weight, layer.weight, layer.translation, layer.scale,
        closed_form_of(layer.base_activation), WAVELETS[layer.wavelet], SLOPES[layer.wavelet],
        compiled,
    )
    assert isinstance(out, torch.Tensor)
    return out


@pytest.mark.parametrize("wavelet", sorted(WAVELETS))
def test_eager_kernels_match_the_formula_to_second_order(wavelet: str) -> None:
    """The eager kernels (what a failing compiler falls back to) against the formula: values
    and first-order gradients from the hand-derived backward, and gradcheck / gradgradcheck
    (second order through the differentiable expression)."""
    torch.manual_seed(0)
    layer = WavKANLinear(3, 2, grid_size=3, wavelet=wavelet, dtype=F64)
    x = torch.randn(4, 3, dtype=F64, requires_grad=True)
    params = [x, *layer.parameters()]
    y, ref = _fused_call(layer, x, compiled=False), layer.reference_rows(x)
    assert_close(y, ref)
    for a, b in zip(torch.autograd.grad(y.sin().sum(), params),
                    torch.autograd.grad(ref.sin().sum(), params), strict=True):
        assert_close(a, b)
    fn = lambda inp, *_: _fused_call(layer, inp, compiled=False)  # noqa: E731
    assert torch.autograd.gradcheck(fn, tuple(params))
    assert torch.autograd.gradgradcheck(fn, tuple(params))


def test_fused_layer_with_a_frozen_frame_and_input() -> None:
    """Only the gradients asked for: a constant input and frozen translations and scales."""
    torch.manual_seed(0)
    layer = WavKANLinear(4, 2, grid_size=3, compile_kernels=True, dtype=F64)
    layer.translation.requires_grad_(False)
    layer.scale.requires_grad_(False)
    x = torch.randn(5, 4, dtype=F64)
    layer(x).square().sum().backward()
    assert layer.translation.grad is None and layer.scale.grad is None
    expected = torch.autograd.grad(layer.reference_rows(x).square().sum(),
                                   [layer.weight, layer.base_weight])
    assert_close(layer.weight.grad, expected[0])
    assert_close(layer.base_weight.grad, expected[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid_size": 0}, "`grid_size` must be >= 1"),
        ({"wavelet": "morlett"}, "Did you mean 'morlet'"),
        ({"grid_range": (1.0, 1.0)}, "`grid_range` must satisfy low < high"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WavKANLinear(3, 2, **kwargs)  # type: ignore[arg-type]


def test_wavelet_annotation_lists_the_wavelets() -> None:
    import typing

    from kanlab.layers.kan.wav_kan import WAVELETS, WavKANLinear

    hint = typing.get_type_hints(WavKANLinear.__init__)["wavelet"]
    assert typing.get_args(hint) == tuple(WAVELETS)
