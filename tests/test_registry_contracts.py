"""Every entry of every registry under its contract suite (shipped in kanlab.testing).

A new component is covered as soon as it is registered; a broken registration fails here
(nothing is skipped because an entry is missing: the expected keys are listed).
"""

from __future__ import annotations

import pytest

from kanlab.registry import CALLBACKS, DATAMODULES, MODELS, OPTIMIZERS, SCHEDULERS
from kanlab.search.pruners import PRUNERS
from kanlab.search.samplers import SAMPLERS
from kanlab.testing import (
    CallbackContract,
    DataModuleContract,
    ModelContract,
    OptimizerContract,
    PrunerContract,
    SamplerContract,
    SchedulerContract,
)


class TestModels(ModelContract):
    @pytest.fixture(params=MODELS.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


class TestDataModules(DataModuleContract):
    @pytest.fixture(params=DATAMODULES.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


class TestCallbacks(CallbackContract):
    @pytest.fixture(params=CALLBACKS.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


class TestOptimizers(OptimizerContract):
    @pytest.fixture(params=OPTIMIZERS.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


class TestSchedulers(SchedulerContract):
    @pytest.fixture(params=SCHEDULERS.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


class TestSamplers(SamplerContract):
    @pytest.fixture(params=SAMPLERS.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


class TestPruners(PrunerContract):
    @pytest.fixture(params=PRUNERS.names())
    def entry_name(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)


EXPECTED = {
    "models": (MODELS, {"mlp", "kan_mlp", "kan_convnet", "timm_backbone"}),
    "datamodules": (DATAMODULES, {"mnist", "fashion_mnist", "tiny_fashion_mnist", "cifar10",
                                  "cifar100", "svhn", "synthetic"}),
    "callbacks": (CALLBACKS, {"grid_update", "skan_schedule"}),
    "samplers": (SAMPLERS, {"tpe", "random", "grid", "cmaes", "nsga2", "gp", "qmc"}),
    "pruners": (PRUNERS, {"median", "percentile", "hyperband", "successive_halving", "none"}),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_expected_entries_are_registered(kind: str) -> None:
    registry, names = EXPECTED[kind]
    assert names <= set(registry.names()), f"{kind}: missing {sorted(names - set(registry))}"
