"""timm interop: kanlab activations as act_layer, module swaps, kanlab_ entrypoints."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

import kanlab
from kanlab.interop import swap_activations, swap_linear
from kanlab.interop.timm import act_layer_of
from kanlab.registry import ACTIVATIONS, LAYERS

CRRELU = ACTIVATIONS.get("crrelu")


def _count(model: nn.Module, cls: type) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


def test_resnet18_act_layer_and_head_swap() -> None:
    model = kanlab.create_model("timm_backbone", arch="resnet18", num_classes=4,
                                act_layer={"name": "crrelu", "eps": 0.02})
    assert _count(model, CRRELU) == 17 and _count(model, nn.ReLU) == 0
    assert all(m.eps.item() == pytest.approx(0.02) for m in model.modules()
               if isinstance(m, CRRELU))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    layer = "relu_kan" if "relu_kan" in LAYERS else "b_spline_kan"
    assert swap_linear(model, layer) == ["model.fc"]
    assert type(model.model.fc) is LAYERS.get(layer)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)


def test_vit_small_image_swap_activations() -> None:
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, num_classes=3, depth=2)
    replaced = swap_activations(model, "crrelu")
    assert replaced == ["blocks.0.mlp.act", "blocks.1.mlp.act"]
    assert _count(model, nn.GELU) == 0
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    # timm's own GELU class (not a torch.nn.GELU subclass) is found too
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, depth=1, act_layer="gelu")
    assert swap_activations(model, "silu") == ["blocks.0.mlp.act"]


def test_mobilenetv3_swaps_hardswish_and_relu_but_not_gates() -> None:
    model = timm.create_model("mobilenetv3_small_050", num_classes=5)
    gates_before = sum(type(m).__name__ in ("Hardsigmoid", "HardSigmoid")
                       for m in model.modules())
    replaced = swap_activations(model, {"name": "crrelu"})
    assert len(replaced) > 20
    assert _count(model, nn.Hardswish) == 0 and _count(model, nn.ReLU) == 0
    gates_after = sum(type(m).__name__ in ("Hardsigmoid", "HardSigmoid")
                      for m in model.modules())
    assert gates_after == gates_before
    model.eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)


def test_shared_module_gets_one_replacement_per_path() -> None:
    shared = nn.ReLU()
    model = nn.Sequential(nn.Linear(3, 3), shared, nn.Linear(3, 3), shared)
    assert swap_activations(model, "crrelu") == ["1", "3"]
    assert model[1] is not model[3]
    with pytest.raises(ValueError, match="`where` must match"):
        swap_linear(model, "b_spline_kan", where="nothing.*")


def test_kanlab_entrypoints_in_timm() -> None:
    assert {"kanlab_mlp", "kanlab_kan_mlp"} <= set(timm.list_models("kanlab_*"))
    model = timm.create_model("kanlab_mlp", widths=[12, 8, 5], num_classes=3)
    assert model(torch.randn(2, 12)).shape == (2, 3)
    model = timm.create_model("kanlab_kan_mlp", widths=[12, 4, 3])
    assert model(torch.randn(2, 12)).shape == (2, 3)
    with pytest.raises(ValueError, match="`pretrained` must be False"):
        timm.create_model("kanlab_mlp", pretrained=True)


def test_act_layer_of_and_bad_arch() -> None:
    act = act_layer_of({"name": "crrelu", "eps": 0.1})(inplace=True)
    assert isinstance(act, CRRELU)
    with pytest.raises(ValueError, match="`arch` must be a timm model name"):
        kanlab.create_model("timm_backbone", arch="resnet_eighteen")


@pytest.mark.parametrize(
    ("name", "kwargs", "x", "features"),
    [
        ("kanlab_mlp", {"widths": [12, 8, 5]}, torch.randn(2, 12), (2, 8)),
        ("kanlab_kan_mlp", {"widths": [12, 6, 4, 5], "norm": "layer"}, torch.randn(2, 12),
         (2, 4)),
        ("kanlab_kan_convnet", {"in_chans": 1, "num_classes": 5, "image_size": 8,
                                "channels": [4, 6]}, torch.randn(2, 1, 8, 8), None),
    ],
)
def test_kanlab_models_have_timms_model_api(
    name: str, kwargs: dict[str, object], x: torch.Tensor, features: tuple[int, ...] | None
) -> None:
    model = timm.create_model(name, **kwargs).eval()
    assert model.pretrained_cfg["architecture"] == name
    assert model.default_cfg is model.pretrained_cfg
    assert model.num_classes == 5
    out = model(x)
    feats = model.forward_features(x)
    if features is not None:
        assert feats.shape == features == (2, model.num_features)
    torch.testing.assert_close(model.forward_head(feats), out)
    assert model.forward_head(feats, pre_logits=True).shape == (2, model.num_features)
    classifier = model.get_classifier()
    assert model.get_submodule(model.pretrained_cfg["classifier"]) is classifier
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.num_classes == 3
    assert model.get_classifier() is not classifier
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)  # features come out, as in timm
