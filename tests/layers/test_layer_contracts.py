"""Every registered layer obeys the shipped contract (a new layer is covered once registered)."""

from __future__ import annotations

import pytest

from kanlab.registry import LAYERS
from kanlab.testing import LayerContract


class TestLayers(LayerContract):
    @pytest.fixture(params=LAYERS.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


def test_every_kan_layer_is_registered() -> None:
    expected = {"b_spline_kan", "relu_kan", "fast_kan", "af_kan", "cheby_kan", "wav_kan",
                "s_kan", "s_conv_kan", "kan_conv2d", "linear", "conv2d", "topk_moe", "gr_kan"}
    assert expected <= set(LAYERS.names()), f"missing {sorted(expected - set(LAYERS))}"
