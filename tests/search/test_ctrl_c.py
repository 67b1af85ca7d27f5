"""One Ctrl-C stops ``kanlab search`` (one and two workers) at any moment, and the printed
command resumes it.

Real subprocesses, SIGINT sent to the process group as a terminal sends it, at moments
before, during and between trials. The runs form a chain: each interrupted run prints the
command that resumes it, and the next run is that command; the last one runs to the end and
the study then holds exactly ``n_trials`` finished trials.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

RESUME = re.compile(r"^kanlab: interrupted .*(?:resume with|to resume): (kanlab search .*)$")


def _in_group(processes: list[Any], pgid: int) -> list[Any]:
    """The processes of group ``pgid`` (a command started in its own session and its children)."""
    return [p for p in processes if p.pgid == pgid]


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open (SQLite keeps the study's file open)."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


def _trials(db: Path) -> list[Any]:
    if not db.is_file():
        return []
    try:
        return optuna.load_study(study_name="toy", storage=f"sqlite:///{db}").trials
    except KeyError:  # the file exists, the study not yet
        return []


def _wait_for_moment(moment: tuple[str, float], proc: subprocess.Popen[str], markers: Path,
                     db: Path, seen: set[str]) -> None:
    """Sleep until ``moment``: ("before", s) after this run opened the study's database
    (before any trial of it), ("trial", s) after a trial of this run started, ("between", 0)
    just after a trial of this run finished.

    (A moment counted from the process start would, on a loaded machine, fall inside the
    interpreter's own start-up, where no program can catch a SIGINT.)"""
    kind, seconds = moment
    deadline = time.monotonic() + 60
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in _trials(db))
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if kind == "before" and _has_open(proc.pid, db):
            time.sleep(seconds)
            return
        if kind == "trial" and {p.name for p in markers.glob("started-*")} - seen:
            time.sleep(seconds)
            return
        if kind == "between" and sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                                     for t in _trials(db)) > finished:
            return
        time.sleep(0.02)
    raise AssertionError(f"the moment {moment} never came")


def _chain(tmp_path: Path, workers: int, moments: list[tuple[str, float]],
           n_trials: int, live_processes: Callable[[], list[Any]]) -> None:
    results = tmp_path / f"results{workers}"
    spec = {
        "name": "toy",
        "base": {"name": "toybase",
                 "model": {"name": "mlp", "widths": [2, 8, 1], "activation": "relu"},
                 "data": {"name": "synthetic", "function": "xy"}},
        "objective": "kanlab.search._toy:objective",
        "n_trials": n_trials, "heartbeat_interval": 1, "grace_period": 5,
        "sampler": {"name": "random", "seed": 0}, "pruner": {"name": "none"},
        "space": {"optim.lr": {"float": [1.0e-4, 1.0e-1], "log": True}},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "KANLAB_RESULTS": str(results), "KANLAB_TOY_SLEEP": "0.1",
           "OMP_NUM_THREADS": "1"}
    db = results / "studies" / "toy.db"
    markers = results / "toy"
    command = f"kanlab search {path} --workers {workers}"
    for moment in [*moments, None]:
        seen = {p.name for p in markers.glob("started-*")}
        argv = shlex.split(command)
        assert argv[:2] == ["kanlab", "search"], command
        # A terminal's foreground job: SIGINT at its default disposition (not an inherited
        # "ignore" of a background job), its own process group for the group's SIGINT.
        proc = subprocess.Popen(
            [sys.executable, "-m", "kanlab.cli", *argv[1:]], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        if moment is None:  # the last command runs the study to the end
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            break
        _wait_for_moment(moment, proc, markers, db, seen)
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        where = f"{workers} workers, moment {moment}: {err}"
        assert proc.returncode == 130, where
        assert took < 8, f"took {took:.1f} s to stop; {where}"
        assert "Traceback" not in err and "failed with parameters" not in err, where
        last = err.strip().splitlines()[-1]
        match = RESUME.match(last)
        assert match, where
        command = match.group(1)
        deadline = time.monotonic() + 5
        while _in_group(live_processes(), proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _in_group(live_processes(), proc.pid)
        assert not left, (left, where)
        trials = _trials(db)
        assert not [t.number for t in trials if t.state == TrialState.RUNNING], where
        for t in trials:
            if t.state == TrialState.FAIL:
                assert t.user_attrs["fail_reason"].startswith("interrupted (Ctrl-C"), where
    trials = _trials(db)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == n_trials
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_one_ctrl_c_stops_every_worker_and_the_printed_command_resumes(
    tmp_path: Path, live_processes: Callable[[], list[Any]],
) -> None:
    # 10 moments: before the first trial (as the study opens), inside a trial (at its
    # start, mid-way) and between trials; with one worker and with two (the second worker's
    # forkserver is still importing torch at "before"; its start costs seconds per run:
    # fewer moments there, more in the slow test).
    _chain(tmp_path / "w1", 1, [("before", 0.0), ("before", 0.1), ("trial", 0.0),
                                ("trial", 0.15), ("between", 0), ("trial", 0.25),
                                ("between", 0)], n_trials=8, live_processes=live_processes)
    _chain(tmp_path / "w2", 2, [("before", 0.0), ("trial", 0.1), ("between", 0)], n_trials=6,
           live_processes=live_processes)


@pytest.mark.slow
def test_ctrl_c_at_many_moments(
    tmp_path: Path, live_processes: Callable[[], list[Any]],
) -> None:
    steps = [0.05 * i for i in range(10)]
    for workers in (1, 2):
        moments: list[tuple[str, float]] = [("before", 0.1 * i) for i in range(8)]
        moments += [("trial", s) for s in steps] + [("between", 0)] * 5
        _chain(tmp_path / f"w{workers}", workers, moments, n_trials=40,
               live_processes=live_processes)
