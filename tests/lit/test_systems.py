"""Training systems: no-decay parameter groups, optimiser/scheduler wiring, argument checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kanlab.lit import FunctionRegressor, ImageClassifier
from kanlab.lit._system import param_groups


class _WithNoDecay(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.grid = nn.Parameter(torch.zeros(3, 4))
        self.weight = nn.Parameter(torch.zeros(3, 4))

    def no_weight_decay(self) -> set[str]:
        return {"grid"}


def test_param_groups_exempt_1d_and_named_parameters() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), _WithNoDecay())
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert len(no_decay["params"]) == 4  # linear bias, LN weight + bias, grid


def test_classifier_builds_optimizer_and_scheduler() -> None:
    system = ImageClassifier(nn.Linear(4, 3), num_classes=3, optimizer="sgd", lr=0.1,
                             weight_decay=1e-4, optimizer_params={"momentum": 0.9},
                             scheduler={"name": "exponential", "gamma": 0.5})
    config = system.configure_optimizers()
    optimizer = config["optimizer"]
    assert isinstance(optimizer, torch.optim.SGD)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [1e-4, 0.0]
    assert optimizer.param_groups[0]["momentum"] == 0.9
    scheduler = config["lr_scheduler"]["scheduler"]
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert system.hparams["lr"] == 0.1 and "model" not in system.hparams


def test_system_argument_checks() -> None:
    with pytest.raises(ValueError, match="`lr` must be > 0, but got lr=0"):
        ImageClassifier(nn.Linear(2, 2), lr=0)
    with pytest.raises(ValueError, match="`num_classes` must be >= 2"):
        ImageClassifier(nn.Linear(2, 2), num_classes=1)
    with pytest.raises(ValueError, match="`weight_decay` and `regularization_weight`"):
        FunctionRegressor(nn.Linear(2, 1), weight_decay=-1.0)


def test_deterministic_auto_resolves_per_device() -> None:
    from kanlab.lit.train import _deterministic

    assert _deterministic("auto", "cpu") is True
    assert _deterministic("auto", "gpu") == "warn"
    assert _deterministic(False, "cpu") is False and _deterministic("warn", "cpu") == "warn"
