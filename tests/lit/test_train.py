"""End-to-end training runs on tiny real data (Fashion-MNIST subset) and synthetic tasks."""

from __future__ import annotations

import csv
import json
import multiprocessing
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from kanlab.cli import main
from kanlab.config import load_experiment
from kanlab.lit import load_run, train
from kanlab.lit.train import append_row
from kanlab.registry import CALLBACKS, MODELS, Entry

BASE: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "model": {"name": "mlp", "widths": [784, 16, 10]},
    "data": {"name": "tiny_fashion_mnist", "batch_size": 100},
    "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4,
              "scheduler": {"name": "exponential", "gamma": 0.8}},
    "trainer": {"max_epochs": 1, "progress_bar": False},
}


def _cfg(data_dir: str, *overrides: str) -> Any:
    return load_experiment(BASE, [f"data.data_dir={data_dir}", *overrides])


def _rows(results_dir: Path, bench: str = "tiny_fashion_mnist") -> list[dict[str, Any]]:
    path = results_dir / bench / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_one_epoch_run_writes_row_and_run_dir(data_dir: str, results_dir: Path) -> None:
    cfg = _cfg(data_dir, "trainer.test_every_epoch=true")
    result = train(cfg, results_dir=results_dir)
    (row,) = _rows(results_dir)
    assert row["benchmark"] == "tiny_fashion_mnist" and row["status"] == "completed"
    assert row["epochs"] == 1 and row["best_epoch"] == 0 and row["seed"] == 0
    assert row["params"] == 784 * 16 + 16 + 16 * 10 + 10
    assert row["params_built"] == row["params"] and row["selected_from_epoch"] == 0
    assert {"git_sha", "code_sha", "git_dirty"} <= set(row)  # provenance (None outside git)
    assert isinstance(row["git_dirty"], bool) == (row["code_sha"] is not None)
    assert row["threads"] == torch.get_num_threads()  # rounding on CPU depends on it
    assert row["flops"] == 2 * (784 * 16 + 16 * 10)
    assert row["latency_ms"] > 0 and row["device"] == "cpu"
    metrics = row["metrics"]
    assert 0.3 < metrics["val/acc"] <= 1 and 0.3 < metrics["test/acc"] <= 1
    assert metrics["test_selected/acc"] == pytest.approx(metrics["test/acc"])  # one epoch
    assert metrics["epoch_time_s"] > 0
    run_dir = results_dir / row["run_dir"]
    assert run_dir == result.run_dir.resolve() or run_dir == result.run_dir
    for name in ("config.yaml", "env.json", "metrics.csv", "best.ckpt", "last.ckpt"):
        assert (run_dir / name).is_file(), name
    env = json.loads((run_dir / "env.json").read_text())
    assert env["seed"] == 0 and "torch" in env["versions"]
    ckpt = torch.load(run_dir / "best.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["kanlab_config"]["model"]["name"] == "mlp"
    cfg2, model = load_run(run_dir)
    assert cfg2 == cfg
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(model(x), result.model(x))


def test_two_runs_give_identical_metrics(data_dir: str, results_dir: Path) -> None:
    cfg = _cfg(data_dir, "trainer.limit_train_batches=4")
    a = train(cfg, results_dir=results_dir, record=False)
    b = train(cfg, results_dir=results_dir, record=False)
    a.metrics.pop("epoch_time_s")
    b.metrics.pop("epoch_time_s")
    assert a.metrics == b.metrics
    assert _rows(results_dir) == []


class _Interrupt(pl.Callback):
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def test_resume_continues_the_epoch_count(data_dir: str, results_dir: Path) -> None:
    cfg = _cfg(data_dir, "trainer.max_epochs=2", "trainer.limit_train_batches=3",
               "trainer.test_every_epoch=true")
    run_dir = results_dir / "interrupted"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, results_dir=results_dir, run_dir=run_dir, extra_callbacks=[_Interrupt()])
    assert (run_dir / "last.ckpt").is_file() and _rows(results_dir) == []
    assert main(["train", "--resume", str(run_dir), "--results-dir", str(results_dir)]) == 0
    (row,) = _rows(results_dir)
    assert row["epochs"] == 2 and row["status"] == "completed"
    with open(run_dir / "metrics.csv", newline="") as f:
        logged = list(csv.DictReader(f))
    assert {"0", "1"} <= {r["epoch"] for r in logged}
    per_epoch = [float(r["test_epoch/acc"]) for r in logged if r.get("test_epoch/acc")]
    assert len(per_epoch) == 2  # the interrupted epoch 0 and the resumed epoch 1
    assert row["metrics"]["test_selected/acc"] == pytest.approx(max(per_epoch))
    # Resuming the finished run again would add a duplicate row: refused, nothing added.
    assert main(["train", "--resume", str(run_dir), "--results-dir", str(results_dir)]) == 2
    assert len(_rows(results_dir)) == 1


def test_a_resumed_run_is_the_uninterrupted_run(data_dir: str, results_dir: Path) -> None:
    """The checkpoint carries the random-number state: the resumed epoch shuffles (and so
    trains) exactly as the uninterrupted run's (without it, it replayed epoch 0's order)."""
    cfg = _cfg(data_dir, "trainer.max_epochs=2", "trainer.limit_train_batches=3")
    whole = train(cfg, results_dir=results_dir / "whole").row["metrics"]
    run_dir = results_dir / "interrupted"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, results_dir=results_dir, run_dir=run_dir, extra_callbacks=[_Interrupt()])
    resumed = train(cfg, results_dir=results_dir, run_dir=run_dir, resume=True).row["metrics"]
    for key in ("val/loss", "val/acc", "test/loss", "test/acc"):
        assert resumed[key] == whole[key], key


def _append_many(path: str, worker: int) -> None:
    for i in range(20):
        append_row(Path(path), {"worker": worker, "i": i, "pad": "x" * 20000})


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 80
    assert sorted((r["worker"], r["i"]) for r in rows) == [(w, i) for w in range(4)
                                                            for i in range(20)]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("optim.lr=-1", "`optim.lr` must be > 0"),
        ("trainer.max_epoch=3", "Unknown key `trainer.max_epoch`. Did you mean 'max_epochs'?"),
        ("model.activation=rleu", "Unknown activation 'rleu'. Did you mean 'relu'?"),
        ("data.name=mnist", "Dataset 'mnist' is not in"),
    ],
)
def test_bad_configs_fail_with_one_line_and_no_row(
    patch: str, message: str, data_dir: str, results_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KANLAB_OFFLINE", "1")
    path = tmp_path / "exp.yaml"
    raw = {**BASE, "data": {**BASE["data"], "data_dir": str(tmp_path / "empty")}}
    path.write_text(json.dumps(raw))
    assert main(["train", str(path), "--set", patch]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not any(results_dir.rglob("runs.jsonl"))


def test_unknown_layer_name_is_suggested(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    raw = {**BASE, "model": {"name": "kan_mlp", "widths": [784, 8, 10], "layer": "relu_kna"}}
    path = tmp_path / "exp.yaml"
    path.write_text(json.dumps(raw))
    assert main(["train", str(path)]) == 2
    assert "Did you mean 'relu_kan'?" in capsys.readouterr().err


class _ToyKAN(nn.Module):
    """A stand-in with the grid-update, S-KAN stage and regulariser interfaces."""

    def __init__(self, *, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, width), nn.Tanh(), nn.Linear(width, 1))
        self.scale = nn.Parameter(torch.ones(2, 2))
        self.stage = "full"
        self.grid_calls = 0
        self.stages: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x @ self.scale)

    def update_grid(self, x: torch.Tensor) -> None:
        assert x.shape[1] == 2
        self.grid_calls += 1

    def to_stage(self, stage: str) -> None:
        self.stage = stage
        self.stages.append(stage)

    def regularization_loss(self) -> torch.Tensor:
        return self.scale.abs().sum()

    def no_weight_decay(self) -> set[str]:
        return {"scale"}


def test_regression_with_callbacks(results_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODELS._entries, "toy_kan", Entry("toy_kan", _ToyKAN, {}))
    cfg = load_experiment({
        "name": "fit", "model": {"name": "toy_kan"},
        "data": {"name": "synthetic", "function": "xy", "n_train": 64, "n_val": 32,
                 "n_test": 32, "batch_size": 32},
        "optim": {"name": "adam", "lr": 1e-2, "regularization_weight": 1e-3},
        "trainer": {"max_epochs": 3, "progress_bar": False, "callbacks": [
            {"name": "grid_update", "every_n_epochs": 2},
            {"name": "skan_schedule", "selective_epoch": 1, "pruned_epoch": 2}]},
    })
    result = train(cfg, results_dir=results_dir)
    (row,) = _rows(results_dir, "synthetic")
    assert set(row["metrics"]) >= {"val/loss", "val/r2", "test/loss", "test/r2"}
    assert row["epochs"] == 3
    model: Any = result.model
    assert model.grid_calls == 2  # epochs 0 and 2
    assert model.stages == ["selective", "pruned"]


@pytest.mark.parametrize(
    ("layer", "callbacks"),
    [
        ("b_spline_kan", [{"name": "grid_update", "every_n_epochs": 1}]),
        ("s_kan", [{"name": "skan_schedule", "selective_epoch": 1, "pruned_epoch": 2}]),
    ],
)
def test_real_kan_layers_with_their_callbacks(
    layer: str, callbacks: list[dict[str, Any]], results_dir: Path
) -> None:
    cfg = load_experiment({
        "name": f"fit_{layer}", "model": {"name": "kan_mlp", "widths": [2, 3, 1], "layer": layer},
        "data": {"name": "synthetic", "n_train": 128, "n_val": 32, "n_test": 32,
                 "batch_size": 64},
        "optim": {"name": "adam", "lr": 1e-2, "regularization_weight": 1e-4},
        "trainer": {"max_epochs": 3, "progress_bar": False, "callbacks": callbacks},
    })
    result = train(cfg, results_dir=results_dir)
    assert result.epochs_run == 3 and "test/r2" in result.metrics
    _, model = load_run(result.run_dir)
    x = torch.rand(4, 2) * 2 - 1
    torch.testing.assert_close(model(x), result.model(x))
    if layer == "s_kan":
        assert getattr(model, "stage", None) == "pruned"


def test_ctrl_c_in_kanlab_train_exits_130_and_leaves_no_run_dir(
    data_dir: str, tmp_path: Path, results_dir: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    exp = {**BASE, "model": {"name": "mlp", "widths": [784, 1024, 1024, 10]},
           "data": {"name": "tiny_fashion_mnist", "batch_size": 1, "data_dir": data_dir}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    env = {**os.environ, "KANLAB_RESULTS": str(results_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "kanlab.cli", "train", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = results_dir / "tiny_fashion_mnist" / "runs"
    deadline = time.monotonic() + 240
    while not (runs.is_dir() and any(runs.iterdir())):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(0.5)  # inside the first epoch (1,000 steps of batch 1, ~3 s): no checkpoint yet
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        "kanlab: interrupted — rerun the same command to start again"
    )
    assert not any(runs.iterdir())  # the run dir without a checkpoint is gone
    assert not (results_dir / "tiny_fashion_mnist" / "runs.jsonl").exists()


class _Boom(pl.Callback):
    """A registered callback with a bug: it raises while training runs."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        raise TypeError("boom: a bug inside training")


def test_a_bug_inside_training_exits_1_with_the_debug_hint(
    data_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(CALLBACKS._entries, "boom", Entry("boom", _Boom, {}))
    raw = {**BASE, "data": {**BASE["data"], "data_dir": data_dir},
           "trainer": {**BASE["trainer"], "callbacks": [{"name": "boom"}],
                       "limit_train_batches": 2, "limit_val_batches": 1}}
    path = tmp_path / "exp.yaml"
    path.write_text(json.dumps(raw))
    assert main(["train", str(path)]) == 1
    err = capsys.readouterr().err
    assert "TypeError: boom: a bug inside training" in err
    assert "rerun with --debug for the traceback" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(TypeError, match="boom"):
        main(["train", str(path), "--debug"])
    # bad input stays a usage error: exit 2, one line
    assert main(["train", str(path), "--set", "trainer.max_epohcs=1"]) == 2
    err = capsys.readouterr().err
    assert "Unknown key `trainer.max_epohcs`" in err and "--debug" not in err


def test_a_constructor_refusing_a_value_is_a_config_error(
    data_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = {**BASE, "data": {**BASE["data"], "data_dir": data_dir},
           "model": {"name": "mlp", "widths": [784, 0, 10]}}
    path = tmp_path / "exp.yaml"
    path.write_text(json.dumps(raw))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kanlab: error: `model`: ") and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # one torch.compile of a KAN model: tens of seconds on a small CPU
def test_compiled_training_forward_gives_the_same_metrics(
    data_dir: str, results_dir: Path
) -> None:
    # batch 96 leaves a short last batch, which runs eagerly next to the compiled full ones
    model = ("model.name=kan_mlp", "model.widths=[784, 8, 10]", "model.layer=b_spline_kan")
    runs = {
        flag: train(
            _cfg(data_dir, *model, "data.batch_size=96", f"trainer.compile={flag}",
                 "trainer.checkpoint=false"),
            results_dir=results_dir / flag, record=False, progress_bar=False,
        ).metrics
        for flag in ("false", "true")
    }
    eager, compiled = runs["false"], runs["true"]
    assert eager["val/acc"] > 0.3
    keys = [k for k in eager if k.split("/")[0] in ("train", "val", "test")]
    assert {"val/loss", "val/acc", "test/acc"} <= set(keys)
    for key in keys:
        assert compiled[key] == pytest.approx(eager[key], rel=1e-4, abs=1e-5), key


def test_without_a_checkpoint_the_row_describes_the_last_epoch_it_tested(
    data_dir: str, results_dir: Path
) -> None:
    from kanlab.config import config_hash

    cfg = _cfg(data_dir, "trainer.max_epochs=3", "trainer.checkpoint=false")
    assert config_hash(cfg) != config_hash(_cfg(data_dir, "trainer.max_epochs=3"))
    result = train(cfg, results_dir=results_dir)
    (row,) = _rows(results_dir)
    # the last epoch's weights are tested, so val/* and best_epoch are that epoch's too
    assert row["best_epoch"] == 2 and row["epochs"] == 3
    with open(result.run_dir / "metrics.csv") as f:
        val = [float(r["val/acc"]) for r in csv.DictReader(f) if r.get("val/acc")]
    assert len(val) == 3 and row["metrics"]["val/acc"] == pytest.approx(val[-1])


def test_a_cut_per_epoch_test_pass_gives_no_test_selected_value(
    data_dir: str, results_dir: Path
) -> None:
    cfg = _cfg(data_dir, "trainer.test_every_epoch=true", "trainer.limit_val_batches=0.5")
    train(cfg, results_dir=results_dir)
    (row,) = _rows(results_dir)
    # the test pass ran on half the test set: not comparable with test/acc, so not reported
    assert row["metrics"]["test_selected/acc"] is None and row["metrics"]["test/acc"] > 0.3
