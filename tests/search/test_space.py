from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from kanlab.config import ConfigError
from kanlab.search._space import apply_values, format_value, get_path, parse_space

SPACE = {
    "model.layer.name": {"categorical": ["b_spline_kan", "af_kan"]},
    "model.layer.grid_size": {"int": [3, 12], "step": 3},
    "optim.lr": {"float": [1.0e-4, 1.0e-2], "log": True},
    "when": [{"if": {"model.layer.name": "af_kan"},
              "space": {"model.layer.func": {"categorical": ["quad1", "quad2"]}}}],
}


def test_conditional_branch_drawn_only_when_condition_holds() -> None:
    space = parse_space(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        values = space.suggest(trial, {})
        assert values["model.layer.grid_size"] in (3, 6, 9, 12)
        assert 1e-4 <= values["optim.lr"] <= 1e-2
        assert ("model.layer.func" in values) == (values["model.layer.name"] == "af_kan")
        seen.add(values["model.layer.name"])
        study.tell(trial, 0.0)
    assert seen == {"b_spline_kan", "af_kan"}


def test_mapping_choices_round_trip_through_yaml_labels() -> None:
    space = parse_space({"model.activations.0": {"categorical": ["relu", {"name": "topk",
                                                                            "k": 8}]}})
    (param,) = space.params
    assert param.labels == ("relu", "{name: topk, k: 8}")
    assert space.decode({"model.activations.0": "{name: topk, k: 8}"}) == {
        "model.activations.0": {"name": "topk", "k": 8}}
    assert format_value(0.001) == "0.001" and format_value("relu") == "relu"


def test_apply_values_switches_spec_and_sets_list_items() -> None:
    base = {"model": {"name": "kan_mlp", "widths": [4, 3, 2],
                      "layer": {"name": "b_spline_kan", "grid_size": 5, "grid_eps": 0.02}},
            "data": {"name": "synthetic"}}
    out = apply_values(base, {"model.layer.name": "relu_kan", "model.layer.grid_size": 7})
    assert out["model"]["layer"]["name"] == "relu_kan"
    assert out["model"]["layer"]["grid_size"] == 7
    assert "grid_eps" not in out["model"]["layer"]  # not a relu_kan argument
    assert base["model"]["layer"]["grid_size"] == 5  # base untouched
    mlp = {"model": {"name": "mlp", "activations": ["relu", "relu"]}}
    out = apply_values(mlp, {"model.activations.1": {"name": "topk", "k": 2}})
    assert get_path(out, "model.activations.1.k") == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "`space` must be a non-empty mapping"),
        ({"a.b": {"categorical": []}}, "`space.a.b.categorical` must be a non-empty list"),
        ({"a.b": {"int": [5, 2]}}, "must have low <= high"),
        ({"a.b": {"float": [0.0, 1.0], "log": True}}, "with log: true must have low > 0"),
        ({"a.b": {"int": [1, 4], "lg": True}}, "Did you mean 'log'?"),
        ({"a.b": {"integer": [1, 4]}}, "exactly one of int, float, categorical"),
        ({"a.b": {"int": [1.5, 4]}}, "bounds must be integers"),
        ({"a.b": {"categorical": ["x", "x"]}}, "must not repeat a choice"),
        ({"a.b": {"float": [1e-3, 1.0], "log": True, "step": 0.1}}, "cannot combine log"),
        ({"a.b": {"categorical": ["x", "y"]}, "when": [{"if": {"a.b": "z"}, "space": {
            "c": {"int": [1, 2]}}}]}, "must be one of the choices"),
        ({"a.b": {"categorical": ["x"]}, "when": [{"iff": {"a.b": "x"}}]}, "Did you mean 'if'?"),
        ({"a.b": {"categorical": ["x", "y"]}, "when": [{"if": {"a.b": "x"}, "space": {
            "a.b": {"categorical": ["y"]}}}]}, "defined twice"),
    ],
)
def test_bad_spaces_name_their_path(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_space(raw)


def test_base_may_name_a_shipped_experiment(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``base: fashion_mnist/mlp`` works from any directory (as ``kanlab train`` accepts it)."""
    from kanlab.search.spec import load_study
    from kanlab.specs import resolve_spec

    monkeypatch.chdir(tmp_path)
    spec = {"name": "mine", "n_trials": 1, "base": "fashion_mnist/mlp",
            "space": {"model.activation": {"categorical": ["relu", "silu"]}}}
    plan = load_study(spec)
    assert plan.base_path == resolve_spec("fashion_mnist/mlp", "experiments").resolve()
    with pytest.raises(ConfigError, match=r"'fashion_mnist/mpl' does not exist .* Did you "
                                          r"mean 'fashion_mnist/mlp'\?"):
        load_study({**spec, "base": "fashion_mnist/mpl"})
