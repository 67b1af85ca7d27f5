from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest

from kanlab.config import (
    ConfigError,
    ExperimentConfig,
    OptimConfig,
    TrainerConfig,
    apply_overrides,
    config_hash,
    dump_yaml,
    from_dict,
    load_experiment,
    parse_overrides,
    validate_params,
)
from kanlab.registry import ACTIVATIONS, DATAMODULES, Draws, Entry


class _DummyData:
    """A stand-in data module for config tests."""

    def __init__(self, *, batch_size: int = 64, data_dir: str | None = None) -> None:
        self.batch_size = batch_size


@pytest.fixture(autouse=True)
def _dummy_datamodule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DATAMODULES._entries, "dummy", Entry("dummy", _DummyData, {}))


BASE: dict[str, Any] = {
    "name": "t",
    "seed": 1,
    "model": {"name": "mlp", "widths": [4, 3, 2], "activation": "relu"},
    "data": {"name": "dummy", "batch_size": 8},
    "optim": {"name": "sgd", "lr": 0.1, "params": {"momentum": 0.9},
              "scheduler": {"name": "exponential", "gamma": 0.8}},
    "trainer": {"max_epochs": 2},
}


def test_load_valid_config_round_trips(tmp_path: Path) -> None:
    cfg = load_experiment(BASE)
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.model.name == "mlp" and cfg.model["widths"] == (4, 3, 2)
    assert cfg.optim.scheduler is not None and cfg.optim.scheduler["gamma"] == 0.8
    assert cfg.trainer.max_epochs == 2 and cfg.trainer.accelerator == "auto"
    path = tmp_path / "exp.yaml"
    path.write_text(dump_yaml(cfg))
    assert load_experiment(path) == cfg
    with pytest.raises(AttributeError):
        cfg.seed = 3  # type: ignore[misc]  # frozen


def test_file_name_is_default_name(tmp_path: Path) -> None:
    path = tmp_path / "my_exp.yaml"
    path.write_text(dump_yaml(load_experiment(BASE)).replace("name: t\n", ""))
    assert load_experiment(path).name == "my_exp"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"traner": {}}, r"Unknown key `traner`\. Did you mean 'trainer'\?"),
        ({"trainer": {"max_epoch": 3}}, r"Unknown key `trainer.max_epoch`\. Did you mean"),
        ({"model": {"name": "mlp", "widht": [1, 2]}}, r"Unknown key `model.widht`.*'widths'"),
        ({"model": {"name": "mlpp"}}, r"`model.name`: Unknown model 'mlpp'\. Did you mean 'mlp'"),
        ({"model": {"name": "mlp", "activation": "rleu"}}, r"`model.activation`: Unknown"),
        ({"model": {"widths": [1, 2]}}, r"`model` needs a 'name' key"),
        ({"optim": {"lr": -1.0}},
         r"`optim.lr` must be > 0 and finite, but got optim.lr=-1.0"),
        ({"optim": {"lr": "fast"}}, r"`optim.lr` must be a number"),
        ({"optim": {"params": {"momentun": 0.9}}}, r"Unknown key `optim.params.momentun`"),
        ({"optim": {"scheduler": {"name": "exponential", "optimizer": 1}}},
         r"`optim.scheduler.optimizer` is set by the model builder"),
        ({"trainer": {"max_epochs": 0}}, r"`trainer.max_epochs` must be >= 1"),
        ({"trainer": {"max_epochs": True}}, r"`trainer.max_epochs` must be an integer"),
        ({"seed": "x"}, r"`seed` must be an integer"),
        ({"trainer": {"strategy": "ddp_spawn", "checkpoint": False}},
         r"`trainer.checkpoint` must be true with trainer.strategy=ddp_spawn .*, but got "
         r"trainer.checkpoint=false\.$"),
        ({"model": {"name": "mlp", "norm": "layr"}},
         r"`model.norm` must be one of \['none', 'layer', 'batch'\].*Did you mean 'layer'"),
    ],
)
def test_bad_configs_name_the_dotted_path(patch: dict[str, Any], message: str) -> None:
    raw = {**BASE, **patch}
    with pytest.raises(ConfigError, match=message):
        load_experiment(raw)


def test_a_large_but_finite_learning_rate_is_an_experiment_not_an_error() -> None:
    # plain SGD at lr 30 is a published recipe (AWD-LSTM); only <= 0 and non-finite are refused
    with pytest.warns(UserWarning, match=r"`optim.lr`=30 is above 10: a typo"):
        cfg = load_experiment({**BASE, "optim": {"name": "sgd", "lr": 30.0}})
    assert cfg.optim.lr == 30.0


def test_missing_required_key() -> None:
    raw = {k: v for k, v in BASE.items() if k != "model"}
    with pytest.raises(ConfigError, match="Missing required key `model`"):
        load_experiment(raw)


def test_overrides_both_forms_and_types() -> None:
    cfg = load_experiment(BASE, ["optim.lr=3e-4", "trainer.max_epochs=5", "model.widths.1=7"])
    assert cfg.optim.lr == 3e-4 and cfg.trainer.max_epochs == 5
    assert cfg.model["widths"] == (4, 7, 2)
    cfg = load_experiment(BASE, ["seed=9"])
    assert cfg.seed == 9
    with pytest.raises(ConfigError, match=r"`trainer.max_epochs` must be an integer"):
        load_experiment(BASE, ["trainer.max_epochs=many"])
    with pytest.raises(ConfigError, match=r"Unknown key `trainer.epochs`"):
        load_experiment(BASE, ["trainer.epochs=3"])
    with pytest.raises(ConfigError, match=r"`model.widths.5` must index a list of 3 items"):
        load_experiment(BASE, ["model.widths.5=3"])
    with pytest.raises(ConfigError, match="must be KEY=VALUE"):
        parse_overrides(["optim.lr"])


def test_apply_overrides_turns_a_name_into_a_spec() -> None:
    raw = apply_overrides({"model": {"name": "mlp", "activation": "relu"}},
                          [("model.activation.inplace", True)])
    assert raw["model"]["activation"] == {"name": "relu", "inplace": True}
    assert parse_overrides(["a=[1, 2]", "b=null", "c=x"]) == [("a", [1, 2]), ("b", None),
                                                              ("c", "x")]


def test_config_hash_ignores_seed_and_location_only() -> None:
    a = load_experiment(BASE)
    b = load_experiment(BASE, ["seed=5", "trainer.accelerator=cpu"])
    c = load_experiment(BASE, ["optim.lr=0.2"])
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(c)


def test_sections_parse_standalone() -> None:
    assert from_dict(OptimConfig, {"name": "adam", "lr": 1}).lr == 1.0
    assert from_dict(TrainerConfig, {"devices": 2}).devices == 2
    with pytest.raises(ConfigError, match="Unknown key `foo`"):
        from_dict(TrainerConfig, {"foo": 1})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_experiment(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_experiment(listy)


def test_optim_regularization_weight_and_yaml11_floats() -> None:
    cfg = load_experiment(BASE, ["optim.regularization_weight=1e-3", "optim.weight_decay=1e-4"])
    assert cfg.optim.regularization_weight == 1e-3 and cfg.optim.weight_decay == 1e-4
    with pytest.raises(ConfigError, match=r"`optim.regularization_weight` must be >= 0"):
        load_experiment(BASE, ["optim.regularization_weight=-1.0"])


# --------------------------------------------------------------------------- declared registries


def _plain(*, activation: str = "x") -> None:
    """A parameter *named* activation that is not a spec."""


def _declared(*, act: Annotated[str, Draws(ACTIVATIONS)] = "relu") -> None:
    """A parameter with another name that is one."""


def test_the_annotation_not_the_name_declares_a_spec() -> None:
    plain, declared = _plain, _declared
    assert validate_params(plain, {"activation": "not_an_activation"}, "f") == {
        "activation": "not_an_activation"
    }
    with pytest.raises(ConfigError, match=r"`f.act`: Unknown activation 'rleu'"):
        validate_params(declared, {"act": "rleu"}, "f")


def test_one_source_for_field_registries() -> None:
    import typing

    from kanlab.config import drawn_registry
    from kanlab.registry import CALLBACKS, MODELS, SCHEDULERS
    from kanlab.sae.config import SAEConfig
    from kanlab.search.pruners import PRUNERS
    from kanlab.search.spec import StudySpec

    def hint(cls: type, name: str) -> typing.Any:
        return typing.get_type_hints(cls, include_extras=True)[name]

    assert drawn_registry(hint(ExperimentConfig, "model")) is MODELS
    assert drawn_registry(hint(ExperimentConfig, "data")) is DATAMODULES
    assert drawn_registry(hint(OptimConfig, "scheduler")) is SCHEDULERS
    assert drawn_registry(hint(TrainerConfig, "callbacks")) is CALLBACKS
    assert drawn_registry(hint(SAEConfig, "data")) is DATAMODULES
    assert drawn_registry(hint(StudySpec, "pruner")) is PRUNERS
    assert drawn_registry(hint(ExperimentConfig, "seed")) is None


@pytest.mark.parametrize(
    ("raw", "path", "kind"),
    [
        ({"model": {"name": "kan_mlp"}}, "model", "model"),
        ({"model": {"name": "kan_mlp", "layer": "relu_kan"}}, "model.layer", "layer"),
        ({"model": {"name": "kan_mlp", "layer": {"name": "b_spline_kan"}}},
         "model.layer.base_activation", "activation"),
        ({"model": {"name": "kan_convnet"}}, "model.conv_layer", "layer"),
        ({"model": {"name": "kan_convnet", "conv_layer": {"name": "kan_conv2d"}}},
         "model.conv_layer.layer", "layer"),
        ({"model": {"name": "mlp", "activations": ["relu", "relu"]}}, "model.activations.1",
         "activation"),
        ({"data": {"name": "fashion_mnist"}}, "data", "datamodule"),
        ({"optim": {"name": "adam"}}, "optim.scheduler", "scheduler"),
        ({"trainer": {"callbacks": [{"name": "grid_update"}]}}, "trainer.callbacks.0",
         "callback"),
        ({"model": {"name": "mlp"}}, "model.widths", None),
        ({"model": {"name": "mlp"}}, "model.nope", None),
        ({}, "seed", None),
    ],
)
def test_registry_at_follows_the_declarations(
    raw: dict[str, Any], path: str, kind: str | None
) -> None:
    from kanlab.config import registry_at

    registry = registry_at(raw, path.split("."))
    assert (registry.kind if registry is not None else None) == kind


def test_one_device_by_default_and_other_device_counts_enter_the_hash() -> None:
    from kanlab.config import config_hash, load_experiment

    base = {"name": "h", "model": {"name": "mlp", "widths": [4, 3, 2]},
            "data": {"name": "synthetic"}}
    cfg = load_experiment(base)
    assert cfg.trainer.devices == 1  # Lightning's "auto" would take every GPU with DDP
    same = [config_hash(load_experiment(base, [s])) for s in (
        "trainer.devices=1", "trainer.strategy=auto", "trainer.checkpoint=true",
        "trainer.accelerator=cpu", "trainer.progress_bar=false",
        "trainer.devices='2,'", "trainer.devices='1,'")]  # one GPU chosen: a search worker
    assert set(same) == {config_hash(cfg)}
    other = {config_hash(load_experiment(base, [s])) for s in (
        "trainer.devices=2", "trainer.devices=auto", "trainer.strategy=ddp",
        "trainer.checkpoint=false")}
    assert len(other) == 4 and config_hash(cfg) not in other


def test_s_kan_candidates_are_layer_specs_checked_inside() -> None:
    """``candidates`` is declared ``Draws(LAYERS)``: validation and search spaces see inside."""
    from kanlab.config import ConfigError, load_experiment, registry_at
    from kanlab.registry import LAYERS

    raw = {"name": "x", "data": {"name": "synthetic"},
           "model": {"name": "kan_mlp", "widths": [4, 2],
                     "layer": {"name": "s_kan", "candidates": [{"name": "fast_kan",
                                                                "grid_sise": 4}]}}}
    with pytest.raises(ConfigError, match=r"model\.layer\.candidates\.0\.grid_sise.*grid_size"):
        load_experiment(raw)
    assert registry_at(raw, ["model", "layer", "candidates", "0"]) is LAYERS


def test_component_names_are_canonical_registry_keys() -> None:
    """`Tiny-Fashion-MNIST` is tiny_fashion_mnist: one benchmark folder, one config hash."""
    from kanlab.config import config_hash, load_experiment

    spelled = load_experiment({"name": "x", "model": {"name": "MLP", "widths": [784, 8, 10]},
                               "data": {"name": "Tiny-Fashion-MNIST"}})
    plain = load_experiment({"name": "x", "model": {"name": "mlp", "widths": [784, 8, 10]},
                             "data": {"name": "tiny_fashion_mnist"}})
    assert spelled.data.name == "tiny_fashion_mnist" and spelled.model.name == "mlp"
    assert spelled.results_group == "tiny_fashion_mnist"  # runs.jsonl's folder
    assert config_hash(spelled) == config_hash(plain)
