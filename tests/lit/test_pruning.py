"""PruningCallback on one device: the judge sees every validation, a prune ends the run
before testing and recording (train raises RunPruned)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanlab.config import load_experiment
from kanlab.lit.pruning import PruningCallback, RunPruned
from kanlab.lit.train import train

EXPERIMENT = {
    "name": "prunetiny",
    "model": {"name": "mlp", "widths": [2, 4, 1], "activation": "relu"},
    "data": {"name": "synthetic", "function": "xy", "n_train": 32, "n_val": 16, "n_test": 16,
             "batch_size": 16},
    "trainer": {"max_epochs": 4, "accelerator": "cpu"},
}


def test_a_pruned_run_stops_at_the_judges_epoch_and_records_nothing(results_dir: Path) -> None:
    seen: list[tuple[int, float]] = []

    def judge(epoch: int, value: float) -> bool:
        seen.append((epoch, value))
        return epoch == 1

    with pytest.raises(RunPruned) as info:
        train(load_experiment(EXPERIMENT), results_dir=results_dir, progress_bar=False,
              extra_callbacks=[PruningCallback(judge, monitor="val/loss")])
    assert info.value.epoch == 1 and [e for e, _ in seen] == [0, 1]
    assert all(v > 0 for _, v in seen)
    assert not (results_dir / "synthetic" / "runs.jsonl").exists()


def test_a_judge_that_never_prunes_leaves_the_run_alone(results_dir: Path) -> None:
    calls: list[int] = []
    result = train(load_experiment(EXPERIMENT), results_dir=results_dir, progress_bar=False,
                   extra_callbacks=[PruningCallback(lambda e, v: bool(calls.append(e)),
                                                    monitor="val/loss")])
    assert calls == [0, 1, 2, 3] and result.epochs_run == 4
    assert result.row["status"] == "completed"
