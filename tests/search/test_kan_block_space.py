"""KAN MLP blocks of a timm backbone are searchable: ``model.mlp_layer.*`` in a study space."""

from __future__ import annotations

import pytest

from kanlab.config import ConfigError
from kanlab.search.spec import load_study

STUDY = {
    "name": "kat_blocks", "base": "experiments/fashion_mnist_kat/vit_gr_kan.yaml",
    "n_trials": 2, "sampler": {"name": "random", "seed": 0},
    "space": {"model.mlp_layer.name": {"categorical": ["gr_kan", "fast_kan", "linear"]}},
}


def test_mlp_layer_is_a_search_dimension() -> None:
    plan = load_study(STUDY)                           # every probe validated as a config
    assert [p.path for p, _ in plan.spec.space.walk()] == ["model.mlp_layer.name"]


def test_a_bad_mlp_layer_in_the_space_names_its_path() -> None:
    bad = {**STUDY, "space": {"model.mlp_layer.name": {"categorical": ["gr_kann"]}}}
    with pytest.raises(ConfigError, match=r"space\.model\.mlp_layer\.name=gr_kann.*gr_kan"):
        load_study(bad)
