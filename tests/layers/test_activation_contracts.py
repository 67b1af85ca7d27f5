"""Contract tests run for EVERY registered activation, present and future.

Each entry is built as ``target(**meta["example_hparams"])``. Elementwise entries must also
match their own ``sympy()`` formula. An entry whose analytic gradient is deliberately not the
true one (e.g. a detached threshold) may opt out of gradcheck with ``gradcheck=False``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import sympy
import torch

import kanlab  # noqa: F401  (fills the registries)
from kanlab.layers.activations._base import X
from kanlab.registry import ACTIVATIONS, Entry

ENTRIES = ACTIVATIONS.entries()
ELEMENTWISE = [e for e in ENTRIES if e.meta.get("elementwise", False)]


def _build(entry: Entry[Any], **kwargs: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    return entry.target(**dict(entry.meta.get("example_hparams", {})), **kwargs)


def _distinct(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Values with distinct magnitudes (no top-k ties, also by |x|), >= 0.08 away from 0."""
    n = int(np.prod(shape))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1)).to(dtype)
    return ((perm - (n - 1) / 2) * 0.3 + 0.07).reshape(shape)


def test_standard_keys_are_registered() -> None:
    expected = {"relu", "leaky_relu", "prelu", "elu", "celu", "selu", "gelu", "silu", "mish",
                "softplus", "sigmoid", "tanh", "identity", "crrelu", "eafo"}
    assert expected <= set(ACTIVATIONS.names())
    assert all(ACTIVATIONS.entry(k).meta["elementwise"] is True for k in expected)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
@pytest.mark.parametrize("shape", [(2, 3, 8), (5, 8)])
def test_shape_finite_and_gradients(entry: Entry[Any], shape: tuple[int, ...]) -> None:
    act = _build(entry)
    x = torch.randn(*shape, requires_grad=True)
    y = act(x)
    assert y.shape == x.shape, f"{entry.name}: shape {tuple(y.shape)} != {shape}"
    assert torch.isfinite(y).all(), f"{entry.name}: non-finite output"
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, p in act.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{entry.name}: no gradient for {name}"
            assert torch.isfinite(p.grad).all(), f"{entry.name}: non-finite gradient for {name}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_inplace_accepted_and_equal(entry: Entry[Any]) -> None:
    plain = _build(entry)
    inplace = _build(entry, inplace=True)                     # timm: act_layer(inplace=True)
    inplace.load_state_dict(plain.state_dict())
    x = torch.randn(4, 8)
    expected = plain(x.clone())
    torch.testing.assert_close(inplace(x.clone()), expected)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_gradcheck_float64(entry: Entry[Any]) -> None:
    if entry.meta.get("gradcheck", True) is False:
        pytest.skip(f"{entry.name} declares gradcheck=False (analytic gradient is a surrogate)")
    act = copy.deepcopy(_build(entry)).double().eval()       # eval: EAFO's stats stay put
    x = _distinct(2, 8).requires_grad_(True)
    assert torch.autograd.gradcheck(act, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("entry", ELEMENTWISE, ids=lambda e: e.name)
def test_sympy_matches_forward(entry: Entry[Any]) -> None:
    act = _build(entry).double()
    act.train()
    act(torch.randn(256, dtype=torch.float64) * 1.5 + 0.3)   # move running stats, if any
    act.eval()
    expr = act.sympy()
    assert isinstance(expr, sympy.Expr)
    assert expr.free_symbols <= {X}, f"{entry.name}: free symbols {expr.free_symbols}"
    fn = sympy.lambdify(X, expr, modules=["scipy", "numpy"])
    x = torch.randn(64, dtype=torch.float64) * 2
    expected = np.broadcast_to(np.asarray(fn(x.numpy()), dtype=np.float64), x.shape)
    with torch.no_grad():
        torch.testing.assert_close(act(x), torch.from_numpy(expected.copy()))
