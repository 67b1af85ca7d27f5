"""Fair-comparison sizing: bisection on a baseline's width."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kanlab.cli import main
from kanlab.results.match import match_model, model_cost


def test_match_params_of_a_wider_mlp() -> None:
    target = {"name": "mlp", "widths": [20, 37, 5]}
    budget = model_cost(target, "params")
    m = match_model(target, to="params", baseline={"name": "mlp", "widths": [20, 8, 5],
                                                   "activation": "silu"})
    assert m.budget == budget
    assert m.spec["widths"] == [20, 37, 5] and m.width == 37 and m.cost == budget
    assert m.overrides() == ["model.widths=[20, 37, 5]"]


def test_match_flops_with_custom_cost_and_int_knob() -> None:
    def cost(spec: Mapping[str, Any]) -> int:
        return 1000 if "hidden" not in spec else 7 * spec["hidden"] ** 2

    m = match_model({"name": "x"}, baseline={"name": "y", "hidden": 1}, knob="hidden",
                    to="flops", cost_fn=cost)
    assert m.width == 12 and m.cost == 1008  # 7 * 12^2 is closer to 1000 than 7 * 11^2


def test_match_scales_hidden_widths_together() -> None:
    m = match_model({"name": "mlp", "widths": [10, 40, 20, 3]}, to="params",
                    baseline={"name": "mlp", "widths": [10, 40, 20, 3]})
    assert m.spec["widths"] == [10, 40, 20, 3]


def test_match_errors() -> None:
    with pytest.raises(ValueError, match="`to` must be one of"):
        match_model({"name": "mlp"}, to="param")
    with pytest.raises(ValueError, match="`knob` must name"):
        match_model({"name": "mlp", "widths": [4, 4, 2]}, knob="width")


def test_match_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["match", "{name: mlp, widths: [20, 37, 5]}", "--to", "flops",
                 "--baseline", "{name: mlp, activation: silu}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "widths: [20, 37, 5]" in out and "--set 'model.widths=[20, 37, 5]'" in out


def test_match_cli_prints_shell_ready_overrides_for_a_bare_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shlex

    assert main(["match", "kan_mlp"]) == 0  # kan_mlp's default widths (784, 64, 10)
    line = capsys.readouterr().out.splitlines()[-1]
    words = shlex.split(line.removeprefix("# overrides: "))
    assert words[0] == "--set" and words[1].startswith("model.widths=[784, ")
