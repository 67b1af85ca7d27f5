"""KAN capabilities as protocols, and the one module walker the models forward through."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import kanlab
from kanlab import capabilities
from kanlab.capabilities import (
    GridUpdatable,
    HasBasis,
    NoWeightDecay,
    Regularized,
    Staged,
    modules_with,
)
from kanlab.registry import LAYERS

EXPECTED = {
    "b_spline_kan": {HasBasis, GridUpdatable, Regularized},
    "relu_kan": {HasBasis},
    "fast_kan": {HasBasis},
    "cheby_kan": {HasBasis},
    "wav_kan": {HasBasis},
    "af_kan": {HasBasis},
    "s_kan": {Staged, GridUpdatable, Regularized, NoWeightDecay},
    "linear": set(),
}
ALL = (HasBasis, GridUpdatable, Staged, Regularized, NoWeightDecay)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layers_have_their_capabilities(name: str) -> None:
    layer = LAYERS.build(name, 4, 3)
    assert {c for c in ALL if isinstance(layer, c)} == EXPECTED[name]


def test_plain_modules_have_none() -> None:
    assert not any(isinstance(nn.Linear(2, 2), c) for c in ALL)


def test_walker_yields_outermost_modules_in_order() -> None:
    model = kanlab.create_model(
        "kan_mlp", widths=[4, 5, 3], layer={"name": "s_kan", "candidates": ["b_spline_kan",
                                                                            "relu_kan"]}
    )
    staged = [name for name, _ in modules_with(model, Staged)]
    assert staged == ["layers.0", "layers.1"]
    # the S-KAN layers are Regularized; their b_spline_kan candidates are not counted again
    assert [n for n, _ in modules_with(model, Regularized)] == ["layers.0", "layers.1"]
    inner = [n for n, _ in modules_with(model, Regularized, outermost=False)]
    assert "layers.0" in inner and any(n.startswith("layers.0.") for n in inner)


def test_model_hooks_forward_through_the_walker() -> None:
    torch.manual_seed(0)
    model = kanlab.create_model(
        "kan_mlp", widths=[4, 5, 3], layer={"name": "s_kan", "candidates": ["b_spline_kan",
                                                                            "relu_kan"]}
    )
    assert model.stage == capabilities.stage_of(model) == "full"
    expected = sum(
        (m.regularization_loss(1.0, 1.0) for _, m in modules_with(model, Regularized)),
        torch.zeros(()),
    )
    torch.testing.assert_close(model.regularization_loss(), expected)
    names = model.no_weight_decay()
    assert {"layers.0.alpha", "layers.1.alpha"} <= names
    model.to_stage("selective")
    assert model.stage == "selective"


def test_to_stage_without_staged_layers_is_refused() -> None:
    model = kanlab.create_model("kan_mlp", widths=[4, 3], layer="relu_kan")
    assert isinstance(model, Staged)  # the model forwards the hook ...
    with pytest.raises(ValueError, match="needs a layer with stages"):
        model.to_stage("pruned")  # ... but has nothing to forward it to
    assert model.stage is None
    assert float(model.regularization_loss()) == 0.0
