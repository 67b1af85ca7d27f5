"""Every KAN layer builds under ``torch.device("meta")`` and materialises with ``to_empty``."""

from __future__ import annotations

import pytest
import torch

from kanlab.registry import LAYERS

KAN_LAYERS = sorted(
    name for name in LAYERS.names()
    if LAYERS.entry(name).target.__module__.startswith("kanlab.layers.kan.")
)


def _build(name: str) -> torch.nn.Module:
    if LAYERS.entry(name).meta.get("kind") == "conv2d":
        return LAYERS.build(name, 2, 3, 3)
    return LAYERS.build(name, 4, 3)


@pytest.mark.parametrize("name", KAN_LAYERS)
def test_builds_on_the_meta_device_and_materialises(name: str) -> None:
    with torch.device("meta"):
        layer = _build(name)
    assert all(t.is_meta for t in [*layer.parameters(), *layer.buffers()])
    layer.to_empty(device="cpu")
    for module in layer.modules():                    # what FSDP-style initialisation does
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    torch.manual_seed(0)
    reference = _build(name)
    assert {n: b.shape for n, b in layer.named_buffers()} == {
        n: b.shape for n, b in reference.named_buffers()
    }
    for (n, b), (_, expected) in zip(layer.named_buffers(), reference.named_buffers(),
                                     strict=True):
        if b.is_floating_point():                     # knots, centres: restored by reset
            torch.testing.assert_close(b, expected, msg=n)
    x = torch.rand(2, 2, 5, 5) if LAYERS.entry(name).meta.get("kind") == "conv2d" else torch.rand(
        5, 4)
    assert torch.isfinite(layer(x)).all()
