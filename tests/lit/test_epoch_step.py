"""kanlab.lit.epoch_step: one Lightning step per epoch gives the run Lightning's loop gives."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch

from kanlab.config import load_experiment
from kanlab.lit import train
from kanlab.lit.epoch_step import reason_not, reason_not_eval
from kanlab.lit.lean_hooks import OWNS_TRAIN_BATCHES, make_lean

MLP: dict[str, Any] = {
    "name": "tiny", "seed": 0,
    "model": {"name": "mlp", "widths": [784, 16, 10]},
    "data": {"name": "tiny_fashion_mnist", "batch_size": 96},
    "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4,
              "scheduler": {"name": "exponential", "gamma": 0.8}},
    "trainer": {"max_epochs": 3, "progress_bar": False, "test_every_epoch": True},
}


def _kan(layer: str, callbacks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": f"fit_{layer}", "seed": 1,
        "model": {"name": "kan_mlp", "widths": [2, 3, 1], "layer": layer},
        "data": {"name": "synthetic", "n_train": 200, "n_val": 32, "n_test": 32,
                 "batch_size": 64},
        "optim": {"name": "adam", "lr": 1e-2, "regularization_weight": 1e-4,
                  "scheduler": {"name": "step", "step_size": 1, "gamma": 0.5}},
        "trainer": {"max_epochs": 4, "progress_bar": False, "callbacks": callbacks},
    }


class Recorder(pl.Callback):
    """Every training-batch hook call, with the trainer's counters at that moment, and the
    evaluation loops' counters at each pass's end."""

    def __init__(self, stop_at: tuple[int, int] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.owned: list[bool] = []
        self.passes: list[tuple[Any, ...]] = []
        self.own_passes: list[bool] = []
        self.stop_at = stop_at

    def _pass(self, trainer: pl.Trainer, module: Any) -> None:
        loop = trainer._evaluation_loop
        progress = loop.batch_progress
        self.passes.append((trainer.testing, trainer.current_epoch, progress.is_last_batch,
                            progress.total.ready, progress.total.started,  # type: ignore[attr-defined]
                            progress.total.processed, progress.total.completed,  # type: ignore[attr-defined]
                            progress.current.ready, progress.current.completed,
                            dict(loop._seen_batches_per_dataloader)))
        self.own_passes.append("validation_step" in vars(module))

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._pass(trainer, pl_module)

    def _eval(self, hook: str, trainer: pl.Trainer, module: Any, batch: Any, idx: int,
              *loader: int) -> None:
        progress = trainer._evaluation_loop.batch_progress
        self.calls.append((hook, trainer.testing, trainer.current_epoch, idx, loader,
                           progress.current.ready, progress.current.processed,
                           progress.is_last_batch,
                           len(batch[0]), float(batch[0].sum()), module._current_fx_name))

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any,
                                  batch_idx: int, *loader: int) -> None:
        self._eval("val start", trainer, pl_module, batch, batch_idx, *loader)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any,
                                batch: Any, batch_idx: int, *loader: int) -> None:
        assert outputs is None
        self._eval("val end", trainer, pl_module, batch, batch_idx, *loader)

    def on_test_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any,
                            batch_idx: int, *loader: int) -> None:
        self._eval("test start", trainer, pl_module, batch, batch_idx, *loader)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any,
                          batch: Any, batch_idx: int, *loader: int) -> None:
        self._eval("test end", trainer, pl_module, batch, batch_idx, *loader)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self._pass(trainer, pl_module)

    def _note(self, hook: str, trainer: pl.Trainer, module: Any, batch: Any, idx: int) -> None:
        loop = trainer.fit_loop.epoch_loop
        self.calls.append((hook, trainer.current_epoch, idx, trainer.global_step,
                           loop.batch_progress.current.ready,
                           loop.batch_progress.current.processed,  # type: ignore[attr-defined]
                           loop._batches_that_stepped,
                           len(batch[0]), float(batch[0].sum()), module._current_fx_name))

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any,
                             batch_idx: int) -> None:
        self._note("start", trainer, pl_module, batch, batch_idx)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        assert isinstance(outputs["loss"], torch.Tensor) and not outputs["loss"].requires_grad
        self._note("end", trainer, pl_module, batch, batch_idx)
        self.owned.append(bool(vars(pl_module).get(OWNS_TRAIN_BATCHES)))
        if self.stop_at == (trainer.current_epoch, batch_idx):
            trainer.should_stop = True


def _csv(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in csv.DictReader(f)]


def _both(cfg: Any, results_dir: Path, monkeypatch: pytest.MonkeyPatch,
          stop_at: tuple[int, int] | None = None) -> list[tuple[Any, Recorder]]:
    """The run through Lightning's per-batch loop, then through the epoch step."""
    out = []
    for switch in ("0", "1"):
        monkeypatch.setenv("KANLAB_EPOCH_STEPS", switch)
        recorder = Recorder(stop_at)
        out.append((train(cfg, results_dir=results_dir / switch, record=False,
                          extra_callbacks=[recorder]), recorder))
    assert not any(out[0][1].owned) and all(out[1][1].owned)  # each loop ran as asked
    assert not any(out[0][1].own_passes) and all(out[1][1].own_passes)
    assert out[0][1].passes == out[1][1].passes  # batch counters at every pass's end
    return out


def _same_run(a: Any, b: Any) -> None:
    for result in (a, b):
        result.metrics.pop("epoch_time_s", None)
    assert a.metrics == b.metrics  # exact floats: the same numbers bit for bit
    for key in ("epochs", "best_epoch", "steps", "stopped_epoch", "stop_reason", "convergence"):
        assert a.row[key] == b.row[key], key
    for (name, p), (_, q) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                 strict=True):
        assert torch.equal(p, q), name
    assert _csv(a.run_dir) == _csv(b.run_dir)  # every logged value and its step


@pytest.mark.parametrize("overrides", [[], ["trainer.limit_train_batches=3"]])
def test_an_mlp_run_is_the_same_run_in_either_loop(
        data_dir: str, results_dir: Path, monkeypatch: pytest.MonkeyPatch,
        overrides: list[str]) -> None:
    cfg = load_experiment(MLP, [f"data.data_dir={data_dir}", *overrides])
    (a, rec_a), (b, rec_b) = _both(cfg, results_dir, monkeypatch)
    _same_run(a, b)
    assert rec_a.calls == rec_b.calls  # every hook call, batch, counter and fx name
    train_calls = [c for c in rec_a.calls if c[0] in ("start", "end")]
    assert a.row["steps"] == len(train_calls) // 2 == (9 if overrides else 33)
    loaders = {c[4] for c in rec_a.calls if c[0].startswith("val")}
    assert loaders == {(0,), (1,)}  # validation and the per-epoch test pass, in both loops


@pytest.mark.parametrize(
    ("layer", "callbacks"),
    [
        ("b_spline_kan", [{"name": "grid_update", "every_n_epochs": 2}]),
        ("s_kan", [{"name": "skan_schedule", "selective_epoch": 1, "pruned_epoch": 2}]),
        ("af_kan", []),
    ],
)
def test_kan_runs_with_their_callbacks_are_the_same_run_in_either_loop(
        layer: str, callbacks: list[dict[str, Any]], results_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_experiment(_kan(layer, callbacks))
    (a, rec_a), (b, rec_b) = _both(cfg, results_dir, monkeypatch)
    _same_run(a, b)
    assert rec_a.calls == rec_b.calls


def test_should_stop_inside_an_epoch_ends_it_after_that_batch_in_either_loop(
        results_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_experiment(_kan("fast_kan", []))
    (a, rec_a), (b, rec_b) = _both(cfg, results_dir, monkeypatch, stop_at=(1, 1))
    _same_run(a, b)
    assert rec_a.calls == rec_b.calls
    assert a.row["steps"] == 4 + 2 and a.row["stop_reason"] == "stopped"  # no step after


def _checkpoint(run_dir: Path, name: str) -> dict[str, Any]:
    ckpt = torch.load(run_dir / name, map_location="cpu", weights_only=False)
    return {"lr_schedulers": ckpt["lr_schedulers"], "state_dict": ckpt["state_dict"],
            "optimizer": [{**g, "params": None} for s in ckpt["optimizer_states"]
                          for g in s["param_groups"]],
            "moments": [v for s in ckpt["optimizer_states"] for v in s["state"].values()]}


def test_a_plateau_scheduler_steps_where_lightnings_loop_steps_it(
        data_dir: str, results_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # patience 0, threshold 0.5: an epoch that does not cut the best validation loss by half
    # halves the learning rate
    plateau = "{name: plateau, factor: 0.5, patience: 0, threshold: 0.5}"
    cfg = load_experiment(MLP, [f"data.data_dir={data_dir}", "trainer.max_epochs=6",
                                "optim.lr=0.05", f"optim.scheduler={plateau}"])
    (a, rec_a), (b, rec_b) = _both(cfg, results_dir, monkeypatch)
    _same_run(a, b)
    assert rec_a.calls == rec_b.calls
    lrs = {row["lr"] for row in _csv(a.run_dir) if row["lr"]}
    assert len(lrs) > 1  # the scheduler did step
    for name in ("last.ckpt", "best.ckpt"):  # saved before the step, in either loop
        left, right = _checkpoint(a.run_dir, name), _checkpoint(b.run_dir, name)
        assert left["lr_schedulers"] == right["lr_schedulers"] and left["optimizer"] == (
            right["optimizer"]), name
        for key in left["state_dict"]:
            assert torch.equal(left["state_dict"][key], right["state_dict"][key]), key
        for u, v in zip(left["moments"], right["moments"], strict=True):
            assert all(torch.equal(u[k], v[k]) for k in u), name


class _ClipsItself(pl.Callback):
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: Any,
                                 optimizer: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("overrides", "env", "callback", "reason"),
    [
        ([], "0", None, "$KANLAB_EPOCH_STEPS is 0"),
        (["trainer.gradient_clip_val=1.0"], "1", None, "gradient clipping"),
        (["optim.scheduler={name: plateau}"], "1", None, None),
        ([], "1", _ClipsItself(), "_ClipsItself.on_before_optimizer_step"),
        ([], "1", None, None),
    ],
)
def test_lightnings_loop_runs_where_the_epoch_step_would_not_be_exact(
        overrides: list[str], env: str, callback: pl.Callback | None, reason: str | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kanlab.lit.train import build_datamodule, build_model, build_system

    monkeypatch.setenv("KANLAB_EPOCH_STEPS", env)
    cfg = load_experiment(_kan("fast_kan", []), overrides)
    system = build_system(cfg, build_model(cfg), build_datamodule(cfg))
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[callback] if callback else [],
                         gradient_clip_val=cfg.trainer.gradient_clip_val)
    make_lean(trainer)
    found = reason_not(system, trainer)
    assert (found is None) if reason is None else (reason in str(found)), found


def test_a_module_that_overrides_a_step_hook_keeps_lightnings_loop() -> None:
    from kanlab.lit.classifier import ImageClassifier

    class Custom(ImageClassifier):
        def on_after_backward(self) -> None:
            pass

    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    make_lean(trainer)
    reason = reason_not(Custom(torch.nn.Linear(4, 2), num_classes=2), trainer)
    assert reason == "the module overrides on_after_backward"

    class Watches(ImageClassifier):
        def on_validation_batch_end(self, *args: Any, **kwargs: Any) -> None:
            pass

    system = Watches(torch.nn.Linear(4, 2), num_classes=2)
    assert reason_not(system, trainer) is None  # the training epoch step runs
    assert reason_not_eval(system, trainer) == "the module overrides on_validation_batch_end"
