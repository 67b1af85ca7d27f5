from __future__ import annotations

import pytest
import torch

import kanlab
from kanlab.config import load_experiment


def test_linear_builds_from_its_name_and_checks_widths() -> None:
    lin = kanlab.create_layer("linear", 6, 4, bias=False)
    assert lin(torch.randn(2, 3, 6)).shape == (2, 3, 4) and lin.bias is None
    with pytest.raises(ValueError, match=r"`x` must have last dim 6 \(in_features\), "
                                         r"but got x.shape=\(2, 5\)"):
        lin(torch.randn(2, 5))
    with pytest.raises(ValueError, match="`out_features` must be >= 1"):
        kanlab.create_layer("linear", 6, 0)


def test_configs_can_name_plain_layers() -> None:
    cfg = load_experiment({
        "name": "t",
        "model": {"name": "kan_convnet", "conv_layer": "conv2d", "head": "linear",
                  "channels": [4], "image_size": 8, "in_chans": 1, "num_classes": 3},
        "data": {"name": "tiny_fashion_mnist"},
    })
    params = {k: v for k, v in cfg.model.to_dict().items() if k != "name"}
    model = kanlab.create_model(cfg.model.name, **params)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    moe = kanlab.create_layer("topk_moe", 6, 4, num_experts=3, k=2, expert="linear")
    assert moe(torch.randn(5, 6)).shape == (5, 4)
