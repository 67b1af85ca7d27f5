"""The in-place eager forms of the fast_kan and relu_kan kernels agree with their functional
forms (what torch.compile fuses), values and input gradients, with and without a base slice."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import kanlab.layers  # noqa: F401  (fills the registries)
from kanlab.layers.kan._fused import _bumps, _rbf
from kanlab.registry import ACTIVATIONS

SILU = ACTIVATIONS.build("silu").closed_form()


@pytest.mark.parametrize("base", ["form", "values", None])
def test_fast_kan_eager_kernels_equal_functional(base: str | None) -> None:
    torch.manual_seed(0)
    n, d, g = 37, 11, 8
    x = torch.randn(n, d)
    z = torch.randn(n, d)
    centers = torch.linspace(-2, 2, g)
    form = SILU if base == "form" else None
    values = torch.tanh(x) if base == "values" else None
    lead = int(base is not None)
    kw = {"form": form, "inv_width": 1.75}
    feats = _rbf._features_eager(z, x, values, centers, **kw)
    assert feats.shape == (n, (lead + g) * d)
    assert torch.equal(feats, _rbf._features(z, x, values, centers, **kw))
    grad = torch.randn(n, (lead + g) * d)
    eager = _rbf._grads_eager(z, x, grad, feats, centers, **kw, lead=lead, grad_lead=lead)
    functional = _rbf._grads(z, x, grad, feats, centers, **kw, lead=lead, grad_lead=lead)
    assert_close(eager[0], functional[0])
    assert (eager[1] is None) == (functional[1] is None) == (base != "form")
    if base == "form":
        assert torch.equal(eager[1], functional[1])
    # the bumps' gradient alone (no base slice in grad): the same z gradient, no x gradient
    for fn, full in ((_rbf._grads_eager, eager), (_rbf._grads, functional)):
        grad_z, grad_x = fn(z, x, grad[:, lead * d:], feats, centers, **kw, lead=lead,
                            grad_lead=0)
        assert torch.equal(grad_z, full[0]) and grad_x is None


def test_relu_kan_eager_kernels_equal_functional() -> None:
    torch.manual_seed(1)
    n, d, m = 29, 13, 6
    x = torch.rand(n, d) * 1.6 - 0.3
    low = torch.linspace(-0.5, 1.0, m).repeat(d, 1) + 0.01 * torch.randn(d, m)
    high = low + 0.5
    feats = _bumps._bumps_eager(x, low, high, scale=4.0)
    assert torch.equal(feats, _bumps._bumps_kernel(x, low, high, scale=4.0))
    grad = torch.randn(n, m * d)
    eager = _bumps._bump_grads_eager(x, low, high, grad, scale=4.0)
    for a, b in zip(eager, _bumps._bump_grads(x, low, high, grad, scale=4.0), strict=True):
        assert torch.equal(a, b)  # same operations in the same order: same bits
