from __future__ import annotations

import pytest
import torch

from kanlab.layers.sparse._select import SparsityBudget
from kanlab.registry import ACTIVATIONS

BUDGETED = ["topk", "abs_topk", "batch_topk", "stat_topk", "adaptive_topk", "stkim", "g_topk"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, r"`k` must be an int >= 1, but got k=0\."),
        ({"k": -3}, r"`k` must be an int >= 1, but got k=-3\."),
        ({"k": 2.5}, r"`k` must be an int >= 1"),
        ({"density": 0.0}, r"`density` must be in \(0, 1\], but got density=0\.0\."),
        ({"density": 1.5}, r"`density` must be in \(0, 1\]"),
        ({"sparsity": 1.0}, r"`sparsity` must be in \[0, 1\), but got sparsity=1\.0\."),
        ({"sparsity": -0.1}, r"`sparsity` must be in \[0, 1\)"),
        ({}, r"Exactly one of `k`, `density` or `sparsity` must be given, but got none\."),
        ({"k": 2, "density": 0.5}, r"Exactly one of .* but got k=2, density=0\.5\."),
    ],
)
@pytest.mark.parametrize("name", BUDGETED)
def test_bad_budget_raises_house_error(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ACTIVATIONS.build({"name": name, **kwargs})


@pytest.mark.parametrize("name", ["topk", "abs_topk", "batch_topk", "stat_topk", "g_topk"])
def test_k_larger_than_row_raises_at_forward(name: str) -> None:
    layer = ACTIVATIONS.build({"name": name, "k": 9})
    with pytest.raises(ValueError, match=r"`k` must be <= the size of dim -1 \(8\), but got k=9"):
        layer(torch.randn(4, 8))


def test_density_and_sparsity_resolve_to_counts() -> None:
    assert SparsityBudget(density=0.25).num_kept(8) == 2
    assert SparsityBudget(sparsity=0.75).num_kept(8) == 2
    assert SparsityBudget(density=0.01).num_kept(8) == 1     # at least one kept
    assert SparsityBudget(k=8).num_kept(8) == 8
    assert SparsityBudget(sparsity=0.5).kept_fraction(10) == 0.5


@pytest.mark.parametrize("name", BUDGETED)
def test_registered_as_non_elementwise_with_example(name: str) -> None:
    entry = ACTIVATIONS.entry(name)
    assert entry.meta["elementwise"] is False
    layer = ACTIVATIONS.build({"name": name, **entry.meta["example_hparams"], "inplace": True})
    x = torch.randn(2, 3, 8, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize("name", BUDGETED + ["top_afa"])
def test_example_gradcheck_float64(name: str) -> None:
    torch.manual_seed(0)
    entry = ACTIVATIONS.entry(name)
    layer = ACTIVATIONS.build({"name": name, **entry.meta["example_hparams"]})
    if name in ("adaptive_topk", "stkim"):
        layer.eval()                       # training moves the controller / draws masks
    x = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
