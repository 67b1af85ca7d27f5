"""A search trial across two devices: Lightning DDP with 2 CPU processes on gloo.

The same code path is what a GPU box runs (``trainer.devices: 2`` on a worker with two GPUs).
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import yaml
from optuna.trial import TrialState

from kanlab.cli import main
from kanlab.config import ConfigError
from kanlab.search import load_study, run_study
from kanlab.search._checks import check_spawned
from kanlab.search.devices import CPU, Placement

pytest.importorskip("torch.distributed")

BASE: dict[str, Any] = {
    "name": "ddpbase",
    "model": {"name": "mlp", "widths": [2, 4, 1], "activation": "relu"},
    "data": {"name": "synthetic", "function": "xy", "n_train": 64, "n_val": 32, "n_test": 30,
             "batch_size": 16},
    "trainer": {"max_epochs": 2, "devices": 2, "strategy": "ddp", "accelerator": "cpu"},
}


def _spec(name: str, pruner: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "base": BASE, "n_trials": 1, "metric": "val/loss",
            "direction": "minimize", "sampler": {"name": "random", "seed": 0},
            "pruner": pruner, "space": {"optim.lr": {"float": [1e-3, 1e-2], "log": True}}}


# Issue 29's done-when, so in the default run (about 20 s: each run starts two processes
# that import torch and Lightning)
def test_a_ddp_trial_is_one_row_and_one_trial_and_prunes_on_both_ranks(
    results_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    storage = f"sqlite:///{results_dir}/ddp.db"
    study = run_study(_spec("ddp_full", {"name": "none"}), storage=storage,
                      results_dir=results_dir)
    [trial] = study.trials
    assert trial.state == TrialState.COMPLETE
    rows = [json.loads(line) for line in
            (results_dir / "synthetic" / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 1  # rank 0 only
    [row] = rows
    assert row["config"]["trainer"]["devices"] == 2
    assert row["config_hash"] == trial.user_attrs["config_hash"]  # ddp_spawn counts as ddp
    assert row["epochs"] == 2 and row["status"] == "completed"
    assert trial.value == pytest.approx(row["metrics"]["val/loss"])
    assert row["metrics"]["test/loss"] is not None
    assert len(list((results_dir / "synthetic" / "runs").iterdir())) == 1

    # A threshold no loss can pass: the trial is pruned after its first epoch.
    pruned = run_study(_spec("ddp_pruned", {"name": "threshold", "upper": 0.0}),
                       storage=storage, results_dir=results_dir)
    [trial] = pruned.trials
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]  # reported once, by rank 0
    assert trial.user_attrs["epochs"] == 1
    assert len((results_dir / "synthetic" / "runs.jsonl").read_text().splitlines()) == 1
    assert multiprocessing.active_children() == []  # both ranks ended


@pytest.mark.slow
def test_a_killed_rank_fails_the_trial_and_it_is_retried(
    results_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import threading
    import time

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    killed: list[int] = []

    def kill_one_rank() -> None:  # the first DDP rank to appear, while the trial runs
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            ranks = multiprocessing.active_children()
            if len(ranks) == 2:
                time.sleep(0.5)
                pid = ranks[-1].pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    thread = threading.Thread(target=kill_one_rank, daemon=True)
    thread.start()
    study = run_study(_spec("ddp_kill", {"name": "none"}), results_dir=results_dir,
                      storage=f"sqlite:///{results_dir}/kill.db")
    thread.join()
    assert killed
    first, retry = study.trials
    assert first.state == TrialState.FAIL and "SIGKILL" in first.user_attrs["fail_reason"]
    assert retry.state == TrialState.COMPLETE and retry.params == first.params
    assert retry.system_attrs.get("failed_trial") == first.number


def _no_checkpoint(**trainer: Any) -> dict[str, Any]:
    base = {**BASE, "trainer": {**BASE["trainer"], "checkpoint": False, **trainer}}
    return {**_spec("nockpt", {"name": "none"}), "base": base}


def test_a_ddp_study_without_checkpoints_fails_up_front_in_one_line(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ddp_spawn's epochs come back through last.ckpt: without it every trial recorded an
    empty run (epochs 0) and failed with "Unknown metric 'val/loss'"."""
    path = tmp_path / "nockpt.yaml"
    path.write_text(yaml.safe_dump(_no_checkpoint()))
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert ("`trainer.checkpoint` must be true for a trial that runs as ddp_spawn" in err
            and "but got trainer.checkpoint=false (trainer.devices=2 on cpu; trial config: "
            "the base)" in err), err
    assert not (results_dir / "studies").exists() and not (results_dir / "synthetic").exists()


def test_the_checkpoint_guard_sees_the_space_and_the_workers_devices(results_dir: Path) -> None:
    drawn = {**_spec("drawn", {"name": "none"}),
             "space": {"trainer.checkpoint": {"categorical": [True, False]}}}
    with pytest.raises(ConfigError, match=r"trial config: trainer\.checkpoint=false\)"):
        run_study(drawn, results_dir=results_dir)
    assert not (results_dir / "studies").exists()

    one = load_study(_no_checkpoint(devices=1))
    check_spawned(one, [CPU])  # one process: no spawned ranks, nothing to bring back
    with pytest.raises(ConfigError, match=r"devices=1 on cuda:0,1;"):
        check_spawned(one, [Placement((0, 1))])  # kanlab worker --device 0,1
    check_spawned(load_study(_spec("kept", {"name": "none"})), [CPU, Placement((0, 1))])
