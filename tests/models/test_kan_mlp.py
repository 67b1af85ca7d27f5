from __future__ import annotations

import re

import pytest
import torch
from torch.testing import assert_close

import kanlab
from kanlab.models.kan_mlp import KANMLP

MY_LAYERS = ["b_spline_kan", "relu_kan", "fast_kan", "cheby_kan", "wav_kan"]


@pytest.mark.parametrize("layer", MY_LAYERS)
def test_builds_each_layer_and_flattens_images(layer: str) -> None:
    model = kanlab.create_model("kan_mlp", widths=[16, 5, 3], layer=layer, norm="layer")
    y = model(torch.rand(4, 1, 4, 4))
    assert y.shape == (4, 3) and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="last dim"):
        model(torch.rand(4, 15))


def test_layer_spec_with_hparams_and_between_modules() -> None:
    model = KANMLP(widths=[6, 5, 4, 2], layer={"name": "relu_kan", "grid_size": 3},
                   norm="batch", dropout=0.1)
    assert all(m.grid_size == 3 for m in model.layers)  # type: ignore[attr-defined]
    assert len(model.between) == 2 and isinstance(model.between[0][1], torch.nn.Dropout)
    assert model(torch.randn(8, 6)).shape == (8, 2)


def test_update_grid_propagates_and_keeps_outputs() -> None:
    torch.manual_seed(0)
    model = KANMLP(widths=[4, 6, 3], layer="b_spline_kan").double()
    x = torch.rand(128, 4, dtype=torch.float64) * 1.6 - 0.8
    before = model(x)
    hidden = model.layers[0](x)
    model.update_grid(x)
    grid1 = model.layers[1].grid                                        # (6, G+2K+1)
    low, high = grid1[:, 3], grid1[:, -4]                               # interior ends
    assert torch.all(low <= hidden.min(0).values) and torch.all(high >= hidden.max(0).values)
    assert (model(x) - before).abs().max() < 1e-2


def test_regularization_loss_sums_layers() -> None:
    model = KANMLP(widths=[4, 3, 2])
    total = model.regularization_loss(1.0, 0.0)
    expect = sum(layer.regularization_loss(1.0, 0.0) for layer in model.layers)
    assert_close(total, expect)
    assert KANMLP(widths=[4, 2], layer="relu_kan").regularization_loss().item() == 0.0


def test_parameter_count_and_stages_without_s_kan() -> None:
    model = KANMLP()
    assert sum(p.numel() for p in model.parameters()) == 508_160
    assert model.stage is None
    with pytest.raises(ValueError, match="`to_stage` needs a layer with stages"):
        model.to_stage("pruned")


def test_stages_delegate_to_s_kan() -> None:
    model = KANMLP(widths=[4, 3, 2], layer="s_kan")
    assert model.stage == "full"
    model.to_stage("selective")
    assert model.stage == "selective"
    model.prune()
    assert model.stage == "pruned" and model(torch.randn(2, 4)).shape == (2, 2)


def test_no_weight_decay_collects_children() -> None:
    class Marked(torch.nn.Linear):
        def no_weight_decay(self) -> set[str]:
            return {"bias"}

    model = KANMLP(widths=[4, 3, 2], layer=Marked)
    assert model.no_weight_decay() == {"layers.0.bias", "layers.1.bias"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"widths": [4]}, "at least 2"),
        ({"widths": [4, 0]}, "must be >= 1"),
        ({"norm": "layr"}, "Did you mean 'layer'"),
        ({"dropout": 1.0}, "`dropout` must be in"),
        ({"layer": "relu_kna"}, "Did you mean 'relu_kan'"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        KANMLP(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["kan_mlp", "mlp"])
@pytest.mark.parametrize("shape", [(), (2, 5)])
def test_input_without_in_features_is_named(model: str, shape: tuple[int, ...]) -> None:
    """A 0-d input or a wrong last dim gets the layers' one-line error, not an IndexError."""
    net = kanlab.create_model(model, widths=[4, 3, 2])
    with pytest.raises(ValueError, match=r"`x` must have last dim 4 \(in_features\), but got "
                       rf"x.shape={re.escape(str(shape))}\."):
        net(torch.randn(shape))
