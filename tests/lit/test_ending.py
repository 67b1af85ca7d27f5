"""How a run ended, recorded in its row: convergence, budget, steps (kanlab.lit.ending)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kanlab.config import ConfigError, load_experiment
from kanlab.convergence import converged, still_improving
from kanlab.lit import train

FIT: dict[str, Any] = {
    "name": "fit", "model": {"name": "mlp", "widths": [2, 8, 1]},
    "data": {"name": "synthetic", "function": "xy", "n_train": 64, "n_val": 32, "n_test": 32,
             "batch_size": 16},
    "optim": {"name": "adam", "lr": 1e-2},
    "trainer": {"max_epochs": 3, "progress_bar": False},
}


def _row(results_dir: Path) -> dict[str, Any]:
    lines = (results_dir / "synthetic" / "runs.jsonl").read_text().splitlines()
    return dict(json.loads(lines[-1]))


def test_a_run_on_its_budget_records_budget_steps_and_its_curve(results_dir: Path) -> None:
    train(load_experiment(FIT), results_dir=results_dir)
    row = _row(results_dir)
    assert row["stop_reason"] == "budget" and row["max_epochs"] == 3
    assert row["stopped_epoch"] == 2 and row["steps"] == 3 * 4  # 64 points / 16 per batch
    assert row["step_time_s"] > 0 and row["threads"] >= 1
    curve = row["convergence"]["curve"]
    assert len(curve) == 3
    assert curve[row["best_epoch"]] == pytest.approx(row["metrics"]["val/loss"])
    assert row["converged"] is converged("budget", still_improving(curve, mode="min"))


def test_plateau_stopping_ends_the_run_and_counts_as_converged(results_dir: Path) -> None:
    # no epoch improves val/loss by more than 10: patience 2 ends the run after epoch 2
    cfg = load_experiment(FIT, ["trainer.max_epochs=50", "trainer.early_stopping_patience=2",
                                "trainer.early_stopping_min_delta=10.0"])
    train(cfg, results_dir=results_dir)
    row = _row(results_dir)
    assert row["stop_reason"] == "plateau" and row["converged"] is True
    assert row["epochs"] == 3 and row["stopped_epoch"] == 2 and row["max_epochs"] == 50
    assert row["status"] == "completed"  # the protocol finished: reproduce counts it done


def test_lbfgs_trains_full_batch_and_refuses_weight_decay(results_dir: Path) -> None:
    cfg = load_experiment(FIT, [
        "optim.name=lbfgs", "optim.lr=1.0", "data.batch_size=64",
        "optim.params={history_size: 10, line_search_fn: strong_wolfe, max_iter: 5}"])
    result = train(cfg, results_dir=results_dir)
    row = _row(results_dir)
    assert row["steps"] == 3  # one L-BFGS step (up to max_iter iterations) per epoch
    curve = row["convergence"]["curve"]
    assert curve[-1] < curve[0] and result.metrics["test/r2"] > 0.5
    with pytest.raises(ValueError, match="weight_decay` must be 0 with optim.name=lbfgs"):
        train(load_experiment(FIT, ["optim.name=lbfgs", "optim.weight_decay=0.1"]),
              results_dir=results_dir, record=False)


def test_min_delta_is_checked_and_enters_the_hash_only_when_set() -> None:
    from kanlab.config import config_hash

    base = load_experiment(FIT)
    assert config_hash(load_experiment(FIT, ["trainer.early_stopping_min_delta=0.0"])) == (
        config_hash(base))
    assert config_hash(load_experiment(FIT, ["trainer.early_stopping_min_delta=0.1"])) != (
        config_hash(base))
    with pytest.raises(ConfigError, match="early_stopping_min_delta` must be >= 0"):
        load_experiment(FIT, ["trainer.early_stopping_min_delta=-1"])
