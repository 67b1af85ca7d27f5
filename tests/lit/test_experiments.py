"""Every shipped training YAML loads and validates (the SAE ones have their own tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kanlab.config import load_experiment

ROOT = Path(__file__).resolve().parents[2] / "experiments"
FILES = sorted(p for p in ROOT.glob("*/*.yaml") if yaml.safe_load(p.read_text()).get("task")
               is None)


def test_all_kan_protocol_is_shipped() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    for bench in ("fashion_mnist", "mnist"):
        for key in ("mlp", "b_spline_kan", "fast_kan", "relu_kan", "af_kan", "crrelu_mlp",
                    "eafo_mlp", "s_kan"):
            assert f"{bench}/{key}.yaml" in names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_experiment_yaml_validates(path: Path) -> None:
    cfg = load_experiment(path)
    assert cfg.name and cfg.trainer.max_epochs >= 1
    if cfg.data.name in ("fashion_mnist", "mnist") and cfg.benchmark is None:  # All-KAN tables
        assert cfg.data["batch_size"] == 64 and cfg.data["normalize"] == "minus_one_one"
        assert cfg.optim.name == "adamw" and cfg.optim.lr == 1e-3
        assert cfg.optim.scheduler is not None and cfg.optim.scheduler["gamma"] == 0.8
