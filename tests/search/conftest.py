"""A throwaway PostgreSQL server (ecosystem notes §1.3b) and small study specs for the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanlab.testing.postgres import postgres_server, unavailable


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://kanlab@127.0.0.1:PORT/kanlab``, a server for the session."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


TOY_BASE: dict[str, Any] = {
    "name": "toybase",
    "model": {"name": "mlp", "widths": [2, 8, 1], "activation": "relu"},
    "data": {"name": "synthetic", "function": "xy"},
}


def toy_spec(**changes: Any) -> dict[str, Any]:
    """A study over the toy objective (no training): tiny, deterministic, fast."""
    spec: dict[str, Any] = {
        "name": "toy",
        "base": TOY_BASE,
        "objective": "kanlab.search._toy:objective",
        "n_trials": 6,
        "heartbeat_interval": 1,
        "grace_period": 3,
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "median", "n_startup_trials": 2},
        "space": {
            "model.activation": {"categorical": ["relu", "silu", {"name": "prelu"}]},
            "optim.lr": {"float": [1.0e-4, 1.0e-1], "log": True},
            "when": [{"if": {"model.activation": "relu"},
                      "space": {"model.dropout": {"float": [0.0, 0.5]}}}],
        },
    }
    spec.update(changes)
    return spec


@pytest.fixture
def write_spec(tmp_path: Path) -> Any:
    """``write_spec(**changes) -> Path`` of a toy study YAML in a temp dir."""

    def write(**changes: Any) -> Path:
        spec = toy_spec(**changes)
        path = tmp_path / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write


@pytest.fixture
def make_spec() -> Any:
    """``make_spec(**changes) -> dict`` of a toy study (see :func:`toy_spec`)."""
    return toy_spec


def _kill_a_worker_mid_trial(cmd: Sequence[str], env: dict[str, str], results_dir: Path) -> int:
    """Start worker 1, SIGKILL it inside its first trial, run worker 2; worker 2's exit code.

    The toy objective writes ``<results>/toy/started-<trial>`` when a trial starts.
    """
    first = subprocess.Popen([*cmd, "--worker-index", "1"], env=env)
    marker = results_dir / "toy" / "started-0"
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.2)
    time.sleep(0.5)
    os.kill(first.pid, signal.SIGKILL)  # dies mid-trial, without a goodbye
    first.wait()
    return subprocess.run([*cmd, "--worker-index", "2"], env=env, timeout=300).returncode


@pytest.fixture
def kill_a_worker_mid_trial() -> Any:
    """:func:`_kill_a_worker_mid_trial`, for the storages' fault-tolerance tests."""
    return _kill_a_worker_mid_trial
