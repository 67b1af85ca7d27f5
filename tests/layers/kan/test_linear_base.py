"""KANLinearBase: coefficient tensors indexed (O, D, M), stored basis-major, loading from the
flat (O, D*M) layout of the peers and of earlier kanlab state dicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import kanlab

# layers whose coefficients moved from a flat (O, D*M) parameter to basis-major (O, D, M)
FLAT_BEFORE = [("fast_kan", "spline_weight", 8), ("relu_kan", "weight", 8)]


def _layer(name: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    layer: nn.Module = kanlab.create_layer(name, 6, 4)
    return layer


@pytest.mark.parametrize(("name", "param", "m"), FLAT_BEFORE)
def test_coefficients_are_stored_basis_major(name: str, param: str, m: int) -> None:
    weight = getattr(_layer(name, 0), param)
    assert weight.shape == (4, 6, m)
    assert weight.transpose(1, 2).is_contiguous()


@pytest.mark.parametrize(("name", "param", "m"), FLAT_BEFORE)
def test_initial_values_are_drawn_in_the_flat_order(name: str, param: str, m: int) -> None:
    """The same seed gives the same coefficients as the flat parameter it replaced."""
    layer = _layer(name, 0)
    torch.manual_seed(3)
    layer.reset_parameters()
    torch.manual_seed(3)
    flat = torch.empty(4, 6 * m)
    if name == "fast_kan":
        nn.init.trunc_normal_(flat, std=0.1)
    else:
        nn.init.kaiming_uniform_(flat, a=5**0.5)
    assert torch.equal(getattr(layer, param).flatten(1), flat)


@pytest.mark.parametrize(("name", "param", "m"), FLAT_BEFORE)
def test_flat_state_dict_loads(name: str, param: str, m: int) -> None:
    source, target = _layer(name, 0), _layer(name, 1)
    state = source.state_dict()
    state[param] = state[param].flatten(1).clone()                       # (O, D*M), contiguous
    target.load_state_dict(state)
    loaded = getattr(target, param)
    assert torch.equal(loaded, getattr(source, param))
    assert loaded.transpose(1, 2).is_contiguous()                       # still basis-major
    x = torch.rand(5, 6) * 2 - 1
    assert torch.equal(target(x), source(x))


@pytest.mark.parametrize(("name", "param", "m"), FLAT_BEFORE)
def test_other_shapes_still_fail_to_load(name: str, param: str, m: int) -> None:
    layer = _layer(name, 0)
    state = layer.state_dict()
    state[param] = torch.zeros(4, 6 * m + 1)
    with pytest.raises(RuntimeError, match="size mismatch"):
        layer.load_state_dict(state)
