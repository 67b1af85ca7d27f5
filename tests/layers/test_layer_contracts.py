"""Every registered layer obeys the same contract (a new layer is covered once registered)."""

from __future__ import annotations

import pytest
import torch

import kanlab  # noqa: F401  (importing the package fills the registries)
from kanlab.registry import LAYERS, Entry

ENTRIES = LAYERS.entries()


def _build(entry: Entry[torch.nn.Module]) -> tuple[torch.nn.Module, torch.Tensor, tuple[int, ...]]:
    hparams = dict(entry.meta.get("example_hparams", {}))
    if entry.meta.get("kind", "linear") == "conv2d":
        layer = LAYERS.build(entry.name, 3, 4, 3, **hparams)
        return layer, torch.randn(2, 3, 8, 8), (2, 4)
    layer = LAYERS.build(entry.name, 6, 4, **hparams)
    return layer, torch.randn(2, 3, 6), (2, 3, 4)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_layer_contract(entry: Entry[torch.nn.Module]) -> None:
    torch.manual_seed(0)
    layer, x, lead = _build(entry)
    y = layer(x)
    assert y.shape[: len(lead)] == lead, f"{entry.name}: leading dims not kept, got {y.shape}"
    assert torch.isfinite(y).all(), f"{entry.name}: non-finite output"
    y.square().mean().backward()
    missing = [n for n, p in layer.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{entry.name}: allocated but unused parameters {missing}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_layer_rejects_wrong_width(entry: Entry[torch.nn.Module]) -> None:
    layer, x, _ = _build(entry)
    if entry.meta.get("kind", "linear") == "conv2d":
        with pytest.raises(ValueError):                  # conv layers word it per channel
            layer(x[:, :-1])
    else:
        with pytest.raises(ValueError, match="last dim"):
            layer(x[..., :-1])


WITH_BASIS = [
    e for e in ENTRIES if e.meta.get("kind", "linear") == "linear" and hasattr(e.target, "basis")
]


@pytest.mark.parametrize("entry", WITH_BASIS, ids=[e.name for e in WITH_BASIS])
def test_layer_basis_shape(entry: Entry[torch.nn.Module]) -> None:
    layer, x, _ = _build(entry)
    b = layer.basis(x.reshape(-1, 6))  # type: ignore[operator]   # (B, in) -> (B, in, M)
    assert b.dim() == 3 and b.shape[:2] == (6, 6), f"{entry.name}: basis shape {b.shape}"
