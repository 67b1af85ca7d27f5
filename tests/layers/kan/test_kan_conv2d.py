from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from kanlab.layers.kan.kan_conv2d import KANConv2d
from kanlab.registry import LAYERS
from kanlab.testing import PowersLinear


def naive(conv: KANConv2d, x: torch.Tensor) -> torch.Tensor:
    """Unfold the whole batch, apply each group's layer to all windows at once."""
    b, _, h, w = x.shape
    cols = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)
    rows = cols.transpose(1, 2)                                     # (B, L, C*kh*kw)
    size = conv.group_features
    y = torch.cat([f(rows[..., i * size : (i + 1) * size]) for i, f in enumerate(conv.layers)], -1)
    kh, kw = conv.kernel_size
    h_out = (h + 2 * conv.padding[0] - conv.dilation[0] * (kh - 1) - 1) // conv.stride[0] + 1
    w_out = (w + 2 * conv.padding[1] - conv.dilation[1] * (kw - 1) - 1) // conv.stride[1] + 1
    return y.transpose(1, 2).reshape(b, conv.out_channels, h_out, w_out)


def make(**kwargs: object) -> KANConv2d:
    torch.manual_seed(0)
    return KANConv2d(4, 6, 3, layer=PowersLinear, dtype=torch.float64, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"stride": 2, "padding": 1},
        {"kernel_size": (2, 3), "dilation": (2, 1), "padding": (1, 0)},
        {"groups": 2, "padding": 1},
    ],
)
@pytest.mark.parametrize("chunk_size", [None, 1, 7, 10_000])
def test_matches_the_unfold_reference(options: dict[str, object], chunk_size: int | None) -> None:
    options = dict(options)
    kernel = options.pop("kernel_size", 3)
    torch.manual_seed(0)
    conv = KANConv2d(
        4, 6, kernel, layer=PowersLinear, chunk_size=chunk_size, dtype=torch.float64, **options  # type: ignore[arg-type]
    )
    x = torch.randn(3, 4, 7, 6, dtype=torch.float64)
    expected = naive(conv, x)
    reference = nn.Conv2d(4, 6, kernel, **options)  # type: ignore[arg-type]
    assert expected.shape[-2:] == reference(x.float()).shape[-2:]  # same geometry as Conv2d
    torch.testing.assert_close(conv(x), expected)


def test_gradients_do_not_depend_on_chunking() -> None:
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    grads = []
    for chunk in (None, 4):
        conv = make(padding=1, chunk_size=chunk)
        conv(x).square().sum().backward()
        grads.append([p.grad for p in conv.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_chunks_bound_the_largest_intermediate() -> None:
    seen: list[int] = []
    conv = KANConv2d(4, 6, 3, layer=PowersLinear, chunk_size=50)
    conv.layers[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    conv(torch.randn(3, 4, 12, 12))
    assert max(seen) <= 50 and sum(seen) == 3 * 10 * 10
    seen.clear()
    auto = KANConv2d(4, 6, 3, layer=PowersLinear, memory_budget=36 * 3 * 4 * 64)
    auto.layers[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    auto(torch.randn(3, 4, 12, 12))
    assert max(seen) == 64                          # budget / (36 inputs * 3 basis * 4 B)


def test_unbatched_input_and_shape_errors() -> None:
    conv = make(padding=1)
    x = torch.randn(4, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(conv(x), conv(x.unsqueeze(0)).squeeze(0))
    with pytest.raises(ValueError, match=r"`x` must be \(B, 4, H, W\)"):
        conv(torch.randn(2, 3, 5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least as large as the dilated kernel"):
        make()(torch.randn(1, 4, 2, 2, dtype=torch.float64))


def test_gradcheck() -> None:
    conv = make(padding=1, groups=2, chunk_size=5)
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,), fast_mode=True)


def test_bad_hyperparameters_raise() -> None:
    with pytest.raises(ValueError, match="`kernel_size` must be an int >= 1"):
        KANConv2d(1, 2, 0, layer=PowersLinear)
    with pytest.raises(ValueError, match="`stride` must be an int >= 1"):
        KANConv2d(1, 2, 3, layer=PowersLinear, stride=(1, 0))
    with pytest.raises(ValueError, match="`padding` must be an int >= 0"):
        KANConv2d(1, 2, 3, layer=PowersLinear, padding=-1)
    with pytest.raises(ValueError, match="divisible by `groups`"):
        KANConv2d(3, 2, 3, layer=PowersLinear, groups=2)
    with pytest.raises(ValueError, match="`chunk_size` must be >= 1"):
        KANConv2d(1, 2, 3, layer=PowersLinear, chunk_size=0)
    with pytest.raises(ValueError, match="must be a linear KAN layer"):
        KANConv2d(1, 2, 3, layer="kan_conv2d")
    with pytest.raises(ValueError, match="Did you mean 'kan_conv2d'"):
        KANConv2d(1, 2, 3, layer="kan_cnv2d")


def test_registered_layer_spec_and_delegation() -> None:
    torch.manual_seed(0)
    conv = LAYERS.build(
        {"name": "kan_conv2d", "layer": {"name": "b_spline_kan", "grid_size": 3}}, 2, 4, 3
    )
    x = torch.rand(2, 2, 6, 6) * 1.6 - 0.8
    y = conv(x)
    assert y.shape == (2, 4, 4, 4)
    y.sum().backward()
    for name, p in conv.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    conv.update_grid(x)
    assert torch.isfinite(conv(x)).all()
    assert conv.regularization_loss().dim() == 0
    assert isinstance(conv.no_weight_decay(), set)
