"""Journal file storage (``journal:``): the guarantees tested on PostgreSQL, on a log file.

Also the worker start-up path: local workers fork from a forkserver that preloaded torch and
Lightning, with the caller's environment and directory.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from kanlab.cli import main
from kanlab.search import counts, run_study
from kanlab.search.devices import CPU
from kanlab.search.storage import check_storage_url, open_storage, resolve_storage
from kanlab.search.study import start_method


def test_journal_urls_absolute_and_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_storage("journal:runs/s.log", results_dir=tmp_path / "r", study="s") == (
        f"journal://{tmp_path}/runs/s.log")
    assert resolve_storage(f"journal://{tmp_path}/s.log", results_dir=tmp_path,
                           study="s") == f"journal://{tmp_path}/s.log"
    with pytest.raises(ValueError, match="does not exist"):
        check_storage_url(f"journal://{tmp_path}/missing/s.log")
    with pytest.raises(ValueError, match="is a directory"):
        check_storage_url(f"journal://{tmp_path}")
    with pytest.raises(ValueError, match="a host is not allowed"):
        check_storage_url("journal://host/s.log")


def test_two_workers_on_a_journal_run_exactly_n_trials(
    make_spec: Any, tmp_path: Path, results_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KANLAB_TOY_SLEEP", "0.3")  # set after any forkserver started: passed on
    url = f"journal:{tmp_path}/study.log"
    study = run_study(make_spec(name="j2", n_trials=6, grace_period=60), workers=2,
                      storage=url, placements=[CPU, CPU])
    assert start_method() == "forkserver"
    numbers = [t.number for t in study.trials]
    assert counts(study).finished == 6 and len(numbers) == len(set(numbers)) == 6
    assert {t.user_attrs["device"] for t in study.trials} == {"cpu"}
    pids = {int(f.read_text()) for f in (results_dir / "toy").glob("started-*")}
    assert os.getpid() in pids and len(pids) == 2  # the child ran trials too
    assert {t.user_attrs["worker"] for t in study.trials} == {0, 1}
    again = run_study(make_spec(name="j2", n_trials=6), storage=url)  # resume: nothing to do
    assert len(again.trials) == 6
    assert main(["study", "show", "--storage", url, "--study", "j2"]) == 0


@pytest.mark.slow
def test_four_workers_on_a_journal_run_exactly_twenty_trials(
    make_spec: Any, tmp_path: Path
) -> None:
    spec = make_spec(name="j20", n_trials=20, heartbeat_interval=2, grace_period=30)
    study = run_study(spec, workers=4, storage=f"journal:{tmp_path}/j.log")
    trials = study.get_trials(deepcopy=False)
    assert len({t.number for t in trials}) == len(trials) == 20
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage",
                            "ignore::optuna.exceptions.ExperimentalWarning")
def test_journal_heartbeat_marks_a_silent_trial_stale(make_spec: Any, tmp_path: Path) -> None:
    storage = open_storage(f"journal:{tmp_path}/hb.log", heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="hb", storage=storage)
    alive, dead = study.ask(), study.ask()
    time.sleep(1.5)
    storage.record_heartbeat(alive._trial_id)  # type: ignore[attr-defined]
    optuna.storages.fail_stale_trials(study)
    states = {t.number: t.state for t in study.trials}
    assert states[alive.number] == TrialState.RUNNING and states[dead.number] == TrialState.FAIL
    retry = study.trials[-1]
    assert retry.state == TrialState.WAITING and retry.system_attrs["failed_trial"] == 1


@pytest.mark.slow
def test_killed_worker_trial_on_a_journal_is_retried(
    write_spec: Any, results_dir: Path, tmp_path: Path, kill_a_worker_mid_trial: Any
) -> None:
    spec = write_spec(name="jkill", n_trials=4, pruner={"name": "none"})
    url = f"journal:{tmp_path}/kill.log"
    env = {**os.environ, "KANLAB_TOY_SLEEP": "0.7", "KANLAB_RESULTS": str(results_dir)}
    cmd = [sys.executable, "-m", "kanlab.cli", "worker", str(spec), "--storage", url]
    assert kill_a_worker_mid_trial(cmd, env, results_dir) == 0
    study = optuna.load_study(study_name="jkill", storage=open_storage(url))
    assert study.trials[0].state == TrialState.FAIL
    assert counts(study).finished == 4
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
    assert retried and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == study.trials[0].params
