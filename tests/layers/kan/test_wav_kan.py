from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from kanlab.layers.kan.wav_kan import WAVELETS, WavKANLinear

F64 = torch.float64


def test_wavelet_values_by_hand() -> None:
    t = torch.tensor([0.0, 1.0], dtype=F64)
    norm = 2 / (math.sqrt(3) * math.pi**0.25)
    assert_close(WAVELETS["mexican_hat"](t), torch.tensor([norm, 0.0], dtype=F64))
    morlet_1 = math.cos(5) * math.exp(-0.5)
    assert_close(WAVELETS["morlet"](t), torch.tensor([1.0, morlet_1], dtype=F64))
    assert_close(WAVELETS["dog"](t), torch.tensor([0.0, -math.exp(-0.5)], dtype=F64))


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
