"""Staged training: the reported model and its checkpoint come from the final stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from kanlab.config import load_experiment
from kanlab.errors import ConfigError
from kanlab.lit import train
from kanlab.lit.classifier import ImageClassifier
from kanlab.lit.skan_schedule import SKANSchedule
from kanlab.lit.staged import (
    FinalStageCheckpoint,
    FinalStageEarlyStopping,
    StageSchedule,
    selection_start,
)
from kanlab.measure import count_params

SKAN: dict[str, Any] = {
    "name": "tiny_s_kan",
    "seed": 0,
    "model": {"name": "kan_mlp", "widths": [784, 8, 10], "layer": {
        "name": "s_kan", "candidates": [{"name": "fast_kan", "grid_size": 4},
                                        {"name": "relu_kan", "grid_size": 2, "spline_order": 2}]}},
    "data": {"name": "tiny_fashion_mnist", "batch_size": 100},
    "optim": {"name": "adamw", "lr": 1e-3},
    "trainer": {"max_epochs": 3, "progress_bar": False, "test_every_epoch": True,
                "callbacks": [{"name": "skan_schedule", "selective_epoch": 1,
                               "pruned_epoch": 2}]},
}


def test_schedule_declares_its_final_stage() -> None:
    assert isinstance(SKANSchedule(selective_epoch=3), StageSchedule)
    assert SKANSchedule(selective_epoch=3, pruned_epoch=5).final_stage_epoch == 5
    assert SKANSchedule(selective_epoch=3).final_stage_epoch == 3
    schedules = [SKANSchedule(selective_epoch=1, pruned_epoch=4), object()]
    assert selection_start(schedules, max_epochs=25) == 4
    assert selection_start([object()], max_epochs=1) == 0
    with pytest.raises(ConfigError, match="must start before trainer.max_epochs=25"):
        selection_start([SKANSchedule(selective_epoch=10, pruned_epoch=25)], max_epochs=25)


def test_best_epoch_is_chosen_among_final_stage_epochs() -> None:
    system = ImageClassifier(nn.Linear(2, 2))
    system.history = [{"epoch": float(e), "val/acc": acc}
                      for e, acc in enumerate([0.9, 0.95, 0.7, 0.8, 0.75])]
    best = system.best_epoch()
    assert best is not None and best["epoch"] == 1.0  # no stages: the best epoch overall
    system.select_from = 2
    best = system.best_epoch()
    assert best is not None and best["epoch"] == 3.0  # best of epochs 2-4 only


class _Worsening(pl.LightningModule):
    """Logs a validation score that gets worse every epoch: the best epoch overall is 0."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return (self.w - 1).square().sum()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/acc", 1.0 / (self.current_epoch + 1))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_final_stage_checkpoint_ignores_earlier_epochs(tmp_path: Path) -> None:
    loader = torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2)
    ckpt = FinalStageCheckpoint(select_from=2, dirpath=tmp_path, filename="best",
                                monitor="val/acc", mode="max", enable_version_counter=False)
    trainer = pl.Trainer(max_epochs=4, callbacks=[ckpt], logger=False, accelerator="cpu",
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    trainer.fit(_Worsening(), loader, loader)
    saved = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=False)
    assert saved["epoch"] == 2  # the first final-stage epoch, not epoch 0


def test_early_stopping_waits_for_the_final_stage(tmp_path: Path) -> None:
    """A score that only worsens would stop plain early stopping at epoch 1 (patience 1):
    the final stage (epoch 3 on) would never run. Ours watches from epoch 3 only."""
    loader = torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2)

    def epochs_run(select_from: int) -> int:
        stop = FinalStageEarlyStopping(select_from=select_from, monitor="val/acc", mode="max",
                                       patience=1)
        trainer = pl.Trainer(max_epochs=8, callbacks=[stop], logger=False, accelerator="cpu",
                             enable_progress_bar=False, enable_model_summary=False,
                             enable_checkpointing=False, num_sanity_val_steps=0)
        trainer.fit(_Worsening(), loader, loader)
        return int(trainer.current_epoch)

    assert epochs_run(0) == 2  # epoch 0 best, epoch 1 worse: stopped after epoch 1
    assert epochs_run(3) == 5  # watched from epoch 3: best there, epoch 4 worse, stopped


def test_s_kan_reports_the_pruned_final_stage_model(data_dir: str, results_dir: Path) -> None:
    cfg = load_experiment(SKAN, [f"data.data_dir={data_dir}"])
    result = train(cfg, results_dir=results_dir)
    (line,) = (results_dir / "tiny_fashion_mnist" / "runs.jsonl").read_text().splitlines()
    row = json.loads(line)
    assert row["selected_from_epoch"] == 2
    assert row["best_epoch"] >= 2  # the selected checkpoint lies in the final stage
    saved = torch.load(result.run_dir / "best.ckpt", map_location="cpu", weights_only=False)
    assert saved["epoch"] >= 2
    stages = [v for k, v in saved["state_dict"].items() if k.endswith("stage_index")]
    assert stages and all(int(s) == 2 for s in stages)  # "pruned"
    assert getattr(result.model, "stage", None) == "pruned"
    assert row["params"] == count_params(result.model)
    assert row["params"] < row["params_built"]  # the deployed count, not the full stage's


def test_stage_that_does_not_fit_the_budget_is_refused(data_dir: str, results_dir: Path) -> None:
    cfg = load_experiment(SKAN, [f"data.data_dir={data_dir}", "trainer.max_epochs=2"])
    with pytest.raises(ConfigError, match="final_stage_epoch=2"):
        train(cfg, results_dir=results_dir)
    assert not (results_dir / "tiny_fashion_mnist").exists()  # nothing left behind
