"""KAN layers inside vision backbones: timm mlp_layer factory, MLP / conv swaps, timm_backbone."""

from __future__ import annotations

from typing import Any

import pytest
import timm
import torch
from torch import nn

import kanlab
from kanlab.config import ConfigError, validate_spec
from kanlab.interop import kan_mlp_layer, swap_convs, swap_mlps
from kanlab.interop.blocks import KANMlp
from kanlab.registry import LAYERS, MODELS

VIT: dict[str, Any] = {"img_size": 16, "patch_size": 4, "embed_dim": 16, "depth": 2,
                       "num_heads": 2, "mlp_ratio": 2.0, "in_chans": 1, "num_classes": 3}


def _trains_one_step(model: nn.Module, x: torch.Tensor) -> None:
    """One AdamW step: finite loss, every trainable parameter has a gradient, weights move."""
    torch.manual_seed(0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0])[: x.shape[0]])
    assert torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    opt.step()
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())


@pytest.mark.parametrize(("layer", "kw", "cls"), [
    ("gr_kan", {"num_groups": 4}, "GRKANLinear"),
    ("fast_kan", {"grid_size": 4}, "FastKANLinear"),
])
def test_create_model_with_kan_mlp_blocks_trains(layer: str, kw: dict[str, Any], cls: str) -> None:
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", mlp_layer=kan_mlp_layer(layer, **kw),
                              **VIT)
    mlps = [m for m in model.modules() if isinstance(m, KANMlp)]
    assert len(mlps) == 2
    assert type(mlps[0].fc1).__name__ == cls and mlps[0].fc1.out_features == 32
    _trains_one_step(model, torch.randn(4, 1, 16, 16))


def test_gr_kan_block_starts_like_kat() -> None:
    """fc1's rational starts as identity, fc2's as GELU (KAT's act_init)."""
    block = kan_mlp_layer("gr_kan")(16, 32)
    assert (block.fc1.init, block.fc2.init) == ("identity", "gelu")
    block = kan_mlp_layer("gr_kan", init="silu")(16, 32)                 # explicit: both
    assert (block.fc1.init, block.fc2.init) == ("silu", "silu")


def test_swap_mlps_returns_paths_and_trains() -> None:
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", **VIT)
    before = model.blocks[1].mlp.fc1.weight.device
    assert swap_mlps(model, {"name": "gr_kan", "num_groups": 2}) == [
        "blocks.0.mlp", "blocks.1.mlp"]
    assert isinstance(model.blocks[1].mlp, KANMlp)
    assert model.blocks[1].mlp.fc1.weight.device == before
    assert not any(type(m) is nn.Linear and "mlp" in n for n, m in model.named_modules())
    _trains_one_step(model, torch.randn(4, 1, 16, 16))


def test_swap_mlps_where_and_errors() -> None:
    model = timm.create_model("vit_tiny_patch16_224", **VIT)
    assert swap_mlps(model, "fast_kan", where="blocks.1.*") == ["blocks.1.mlp"]
    with pytest.raises(ValueError, match="must be a linear layer"):
        swap_mlps(model, "kan_conv2d")
    with pytest.raises(ValueError, match="Did you mean 'gr_kan'"):
        swap_mlps(model, "gr_kann")
    with pytest.raises(ValueError, match="at least one timm-style Mlp"):
        swap_mlps(nn.Sequential(nn.Linear(2, 2)), "gr_kan")


def test_cnn_with_kan_convs_trains() -> None:
    torch.manual_seed(0)
    model = timm.create_model("resnet18", layers=[1, 1, 1, 1], channels=[4, 4, 4, 4],
                              stem_width=4, in_chans=1, num_classes=3)
    replaced = swap_convs(model, {"name": "kan_conv2d", "layer": "fast_kan"})
    assert replaced[0] == "conv1" and "layer4.0.conv2" in replaced and len(replaced) == 13
    assert not any(type(m) is nn.Conv2d for m in model.modules())
    _trains_one_step(model, torch.randn(2, 1, 16, 16))


def test_swap_convs_skips_what_the_layer_cannot_reproduce() -> None:
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, stride=2),
        nn.Conv2d(4, 4, 3, padding=1, groups=4),                         # depthwise
        nn.Conv2d(4, 4, 3, padding="same"),
        nn.Conv2d(4, 3, 1),
    )
    assert swap_convs(net, "s_conv_kan") == ["0", "3"]                   # no groups, no "same"
    assert net(torch.randn(1, 2, 8, 8)).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="must be a conv layer"):
        swap_convs(net, "gr_kan")


def test_timm_backbone_takes_mlp_and_conv_layer_specs_from_yaml() -> None:
    raw = {"name": "timm_backbone", "arch": "vit_tiny_patch16_224", "img_size": 16,
           "in_chans": 1, "num_classes": 3,
           "model_kwargs": {k: VIT[k] for k in ("patch_size", "embed_dim", "depth",
                                                 "num_heads", "mlp_ratio")},
           "mlp_layer": {"name": "gr_kan", "num_groups": 4}}
    torch.manual_seed(0)
    model = MODELS.build(validate_spec(MODELS, raw, "model").to_dict())
    assert isinstance(model.model.blocks[0].mlp, KANMlp)
    _trains_one_step(model, torch.randn(4, 1, 16, 16))
    cnn = kanlab.create_model(
        "timm_backbone", arch="resnet18", in_chans=1, num_classes=3, conv_layer="kan_conv2d",
        model_kwargs={"layers": [1, 1, 1, 1], "channels": [4, 4, 4, 4], "stem_width": 4})
    assert isinstance(cnn.model.conv1, LAYERS.get("kan_conv2d"))
    with pytest.raises(ConfigError, match="mlp_layer"):
        validate_spec(MODELS, {**raw, "mlp_layer": {"name": "gr_kan", "num_grups": 4}}, "model")


def test_use_conv_mlp_block() -> None:
    block = kan_mlp_layer("gr_kan", num_groups=2)(4, 8, 3, use_conv=True)
    assert block(torch.randn(2, 4, 5, 5)).shape == (2, 3, 5, 5)
