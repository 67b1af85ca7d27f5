from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from torch.testing import assert_close

from kanlab.layers.sparse.adaptive_topk import AdaptiveTopK


def test_density_controller_converges_on_skewed_stream() -> None:
    torch.manual_seed(0)
    layer = AdaptiveTopK(density=0.08, gain=1.0)
    realised = []
    for step in range(200):
        x = F.gelu(torch.randn(64, 512))                      # skewed: open loop misses
        y = layer(x)
        if step >= 120:
            realised.append(float((y != 0).float().mean()))
    assert abs(sum(realised) / len(realised) / 0.08 - 1) < 0.01
    assert float(layer.offset) != 0.0
    assert "offset" in layer.state_dict() and not list(layer.parameters())


def test_entropy_controller_converges() -> None:
    torch.manual_seed(1)
    layer = AdaptiveTopK(k=20, target="entropy", target_entropy=2.0, gain=0.2)
    measured = []
    for step in range(200):
        layer(torch.randn(32, 256))
        if step >= 120:
            measured.append(float(layer.measured))
    assert abs(sum(measured) / len(measured) - 2.0) < 0.02


def test_frozen_in_eval_and_gradient_on_kept_only() -> None:
    layer = AdaptiveTopK(k=4)
    layer(torch.randn(8, 32))
    offset = layer.offset.clone()
    layer.eval()
    x = torch.randn(8, 32, requires_grad=True)
    y = layer(x)
    assert_close(layer.offset, offset)
    y.sum().backward()
    assert x.grad is not None
    assert_close(x.grad, (y != 0).float())


def test_target_entropy_validation() -> None:
    with pytest.raises(ValueError, match="`target_entropy` must be given exactly when"):
        AdaptiveTopK(k=2, target="entropy")
    with pytest.raises(ValueError, match="`gain` must be > 0, but got gain=0"):
        AdaptiveTopK(k=2, gain=0)
