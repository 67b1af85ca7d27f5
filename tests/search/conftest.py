"""A throwaway PostgreSQL server (ecosystem notes §1.3b) and small study specs for the tests."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return str(Path(found[-1]).parent)
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://kanlab@127.0.0.1:PORT/kanlab``, a server for the session."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
                    ".ci/run installs the Debian 'postgresql' package")
    pytest.importorskip("psycopg")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root needs runuser to start PostgreSQL as user postgres")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    env_path = f"{bindir}:{os.environ.get('PATH', '')}"
    run = [*prefix, "env", f"PATH={env_path}"]
    tmp = tempfile.mkdtemp(prefix="kanlab-pg-")
    if as_root:
        shutil.chown(tmp, "postgres", "postgres")
    port = _free_port()
    data = f"{tmp}/data"

    def call(*cmd: str) -> None:
        subprocess.run([*run, *cmd], check=True, capture_output=True, timeout=120)

    call("initdb", "-D", data, "-U", "kanlab", "--auth=trust")
    call("pg_ctl", "-D", data, "-l", f"{tmp}/log", "-w", "-o",
         f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c max_connections=200 "
         "-c fsync=off", "start")
    try:
        call("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "kanlab", "kanlab")
        yield f"postgresql+psycopg://kanlab@127.0.0.1:{port}/kanlab"
    finally:
        subprocess.run([*run, "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


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
