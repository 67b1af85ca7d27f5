"""Concurrency and fault tolerance on a real PostgreSQL server (fixture in conftest.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from kanlab.search import counts, run_study


def test_four_workers_run_exactly_twenty_trials(postgres_url: str, make_spec: Any) -> None:
    # A generous grace period: on an overloaded test machine a live worker's heartbeat can
    # lag by seconds, and a stale-judged trial would be failed and retried (tested below).
    spec = make_spec(name="pg20", n_trials=20, heartbeat_interval=2, grace_period=20)
    study = run_study(spec, workers=4, storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == 20
    assert counts(study).finished == 20
    for t in trials:
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert t.values is not None and "config" in t.user_attrs


@pytest.mark.slow
def test_killed_worker_trial_is_retried_and_study_completes(
    postgres_url: str, write_spec: Any, results_dir: Path, kill_a_worker_mid_trial: Any
) -> None:
    spec = write_spec(name="pgkill", n_trials=6, pruner={"name": "none"})
    env = {**os.environ, "KANLAB_TOY_SLEEP": "0.7", "KANLAB_RESULTS": str(results_dir)}
    # The session's database holds other studies: a worker starts one there only by name.
    cmd = [sys.executable, "-m", "kanlab.cli", "worker", str(spec), "--storage", postgres_url,
           "--study", "pgkill"]
    assert kill_a_worker_mid_trial(cmd, env, results_dir) == 0
    study = optuna.load_study(study_name="pgkill", storage=postgres_url)
    states = [t.state for t in study.trials]
    assert states[0] == TrialState.FAIL
    assert counts(study).finished == 6
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
    assert retried and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == study.trials[0].params
