from __future__ import annotations

import pytest
import torch
from torch import nn

from kanlab.models.kan_convnet import KANConvNet
from kanlab.registry import MODELS
from kanlab.validation import _spec


def grads_complete(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]


def n_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("conv_layer", "head"),
    [
        ("kan_conv2d", "linear"),                                   # KAN convs + linear head
        (None, "b_spline_kan"),                                     # plain convs + KAN head
        ({"name": "kan_conv2d", "layer": {"name": "fast_kan"}}, {"name": "cheby_kan"}),
    ],
)
def test_variants_forward_and_train(conv_layer: object, head: object) -> None:
    torch.manual_seed(0)
    model = MODELS.build(
        {"name": "kan_convnet", "conv_layer": conv_layer, "head": head, "channels": [3, 4]}
    )
    y = model(torch.randn(2, 1, 28, 28))
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    y.square().mean().backward()
    assert not grads_complete(model)
    assert model.stage is None
    with pytest.raises(ValueError, match="needs a layer with stages"):
        model.to_stage("selective")


def test_s_conv_kan_network_stages_and_pruning() -> None:
    torch.manual_seed(0)
    model = KANConvNet(
        in_chans=3,
        image_size=8,
        channels=(4,),
        conv_layer={"name": "s_conv_kan", "candidates": ["fast_kan", "cheby_kan"]},
        head={"name": "s_kan", "candidates": ["b_spline_kan", "fast_kan"]},
        global_pool=True,
    )
    x = torch.randn(3, 3, 8, 8)
    assert model.stage == "full"
    model(x).sum().backward()
    assert not grads_complete(model)
    assert model.no_weight_decay() >= {"features.0.0.layers.0.alpha", "head.alpha"}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("alpha"):
                p.copy_(torch.randn_like(p))                        # a mixed selection
    before = n_trainable(model)
    model.to_stage("selective")
    model.eval()
    y = model(x).detach()
    model.prune()
    assert model.stage == "pruned"
    torch.testing.assert_close(model(x), y)
    assert n_trainable(model) < before
    fresh = KANConvNet(
        in_chans=3,
        image_size=8,
        channels=(4,),
        conv_layer={"name": "s_conv_kan", "candidates": ["fast_kan", "cheby_kan"]},
        head={"name": "s_kan", "candidates": ["b_spline_kan", "fast_kan"]},
        global_pool=True,
    )
    fresh.load_state_dict(model.state_dict())                      # pruned checkpoint reloads
    fresh.eval()
    assert fresh.stage == "pruned"
    torch.testing.assert_close(fresh(x), y)
    with pytest.raises(ValueError, match="must not go back"):
        model.to_stage("full")


def test_update_grid_and_regularization_propagate() -> None:
    torch.manual_seed(0)
    model = KANConvNet(channels=(2,), image_size=8, head="b_spline_kan", pool="avg")
    calls: list[tuple[int, ...]] = []
    for module in model.modules():
        if hasattr(module, "update_grid") and module is not model:
            original = module.update_grid

            def spy(x: torch.Tensor, margin: float = 0.01, _f=original) -> None:  # noqa: ANN001
                calls.append(tuple(x.shape))
                _f(x, margin)

            module.update_grid = spy  # type: ignore[method-assign]
    model.update_grid(torch.randn(4, 1, 8, 8))
    assert (4, 1, 8, 8) in calls and (4, 2 * 4 * 4) in calls       # conv input, head input
    loss = model.regularization_loss()
    assert loss.dim() == 0 and loss.item() > 0
    assert torch.isfinite(model(torch.randn(2, 1, 8, 8))).all()


def test_plain_cnn_and_config_spec() -> None:
    torch.manual_seed(0)
    raw = {"name": "kan_convnet", "conv_layer": None, "head": None, "norm": "instance"}
    spec = _spec({**raw, "pool": "none"}, MODELS, "model")
    model = spec.build(MODELS)
    assert isinstance(model.head, nn.Linear) and model.head.in_features == 16 * 28 * 28
    assert model.regularization_loss().item() == 0.0
    assert model.no_weight_decay() == set()
    y = model(torch.randn(2, 1, 28, 28))
    y.sum().backward()
    assert y.shape == (2, 10) and not grads_complete(model)


def test_bad_hyperparameters_raise() -> None:
    with pytest.raises(ValueError, match="`channels` must list at least 1"):
        KANConvNet(channels=())
    with pytest.raises(ValueError, match="Did you mean 'max'"):
        KANConvNet(pool="mxa", conv_layer=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`conv_layer` must be a conv2d layer"):
        KANConvNet(conv_layer="s_kan")
    with pytest.raises(ValueError, match="`head` must be a linear layer"):
        KANConvNet(conv_layer=None, head="kan_conv2d")
    with pytest.raises(ValueError, match="`image_size` must be >= 8"):
        KANConvNet(conv_layer=None, channels=(2, 2, 2), image_size=7)
    with pytest.raises(ValueError, match=r"`x` must be \(B, 1, H, W\)"):
        KANConvNet(conv_layer=None)(torch.randn(2, 784))


def test_input_must_be_an_image_batch() -> None:
    net = KANConvNet(in_chans=1, num_classes=3, channels=[2], conv_layer="conv2d")
    with pytest.raises(ValueError, match=r"`x` must be \(B, 1, H, W\), but got "
                       r"x.shape=\(1, 8, 8\)\.$"):
        net(torch.randn(1, 8, 8))
