"""Contract tests run for EVERY registered activation, present and future.

The generic suite is :class:`kanlab.testing.ActivationContract` (each entry built from
``{name: ..., **meta["example_hparams"]}``); an entry whose analytic gradient is deliberately
not the true one (e.g. a detached threshold) may opt out of gradcheck with ``gradcheck=False``.
Elementwise entries must also match their own ``sympy()`` formula (below).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy
import torch

from kanlab.layers.activations._base import X
from kanlab.registry import ACTIVATIONS, Entry
from kanlab.testing import ActivationContract

ENTRIES = ACTIVATIONS.entries()
ELEMENTWISE = [e for e in ENTRIES if e.meta.get("elementwise", False)]


def _build(entry: Entry[Any], **kwargs: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    return entry.target(**dict(entry.meta.get("example_hparams", {})), **kwargs)


def test_standard_keys_are_registered() -> None:
    expected = {"relu", "leaky_relu", "prelu", "elu", "celu", "selu", "gelu", "silu", "mish",
                "softplus", "sigmoid", "tanh", "identity", "crrelu", "eafo"}
    assert expected <= set(ACTIVATIONS.names())
    assert all(ACTIVATIONS.entry(k).meta["elementwise"] is True for k in expected)


class TestActivations(ActivationContract):
    """The shipped suite (shape, gradients, inplace, gradcheck, YAML, unknown keys)."""

    @pytest.fixture(params=ACTIVATIONS.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


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
