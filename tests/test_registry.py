from __future__ import annotations

import pytest
from torch import nn

import kanlab
from kanlab.registry import ACTIVATIONS, LAYERS, MODELS, Registry


def test_register_get_build_and_metadata() -> None:
    reg: Registry[nn.Module] = Registry("widget")

    @reg.register("lin-ear", kind="linear")
    class Lin(nn.Linear):
        """A linear widget."""

    assert reg.get("lin_ear") is Lin
    assert reg.get("LIN-EAR") is Lin                   # case and dash insensitive
    assert reg.get(Lin) is Lin                         # classes pass through unchanged
    assert reg.entry("lin_ear").meta == {"kind": "linear"}
    assert reg.entry("lin_ear").summary == "A linear widget."
    layer = reg.build({"name": "lin_ear", "bias": False}, 3, 2)
    assert isinstance(layer, Lin) and layer.bias is None
    assert isinstance(reg.build("lin_ear", 3, 2), Lin)
    assert isinstance(reg.build(Lin, 3, 2), Lin)
    assert "lin_ear" in reg and len(reg) == 1 and reg.names() == ["lin_ear"]


def test_duplicate_name_raises() -> None:
    reg: Registry[object] = Registry("widget")
    reg.add("a", object)
    with pytest.raises(ValueError, match="'a' is already registered"):
        reg.add("A", dict)


def test_unknown_name_suggests_and_lists() -> None:
    reg: Registry[object] = Registry("widget")
    reg.add("relu_kan", object)
    reg.add("af_kan", object)
    with pytest.raises(ValueError, match=r"Unknown widget 'relu-kna'\. Did you mean 'relu_kan'\?"):
        reg.get("relu-kna")
    with pytest.raises(ValueError, match="Available: af_kan, relu_kan"):
        reg.get("zzz")


def test_build_spec_errors() -> None:
    reg: Registry[object] = Registry("widget")
    with pytest.raises(ValueError, match="needs a 'name' key"):
        reg.build({"grid_size": 3})
    with pytest.raises(TypeError, match="must be a name or a mapping"):
        reg.build(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a str"):
        reg.entry(3)  # type: ignore[arg-type]


def test_public_api() -> None:
    assert kanlab.list_models() == MODELS.names()
    assert kanlab.list_layers() == LAYERS.names()
    assert kanlab.list_activations() == ACTIVATIONS.names()
    mlp = kanlab.create_model("mlp", widths=[4, 3, 2])
    assert sum(p.numel() for p in mlp.parameters()) == 4 * 3 + 3 + 3 * 2 + 2
