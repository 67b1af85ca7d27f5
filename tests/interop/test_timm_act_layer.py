"""kanlab activations as timm's ``act_layer=`` (timm calls ``act_layer(inplace=True)``)."""

from __future__ import annotations

from typing import Any

import pytest
import timm
import torch

import kanlab
from kanlab.registry import ACTIVATIONS


@pytest.mark.parametrize(("name", "hparams"), [("crrelu", {}), ("eafo", {"base": "softplus"})])
def test_resnet18_forward_backward_reaches_eps(name: str, hparams: dict[str, Any]) -> None:
    torch.manual_seed(0)
    act_layer = kanlab.get_activation(name, **hparams)
    model = timm.create_model("resnet18", act_layer=act_layer, num_classes=10)
    cls = ACTIVATIONS.get(name)
    acts = [m for m in model.modules() if isinstance(m, cls)]
    assert len(acts) == 17                                 # every ReLU position replaced
    y = model(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    y.logsumexp(-1).sum().backward()
    for act in acts:
        assert act.eps.grad is not None and torch.isfinite(act.eps.grad)
