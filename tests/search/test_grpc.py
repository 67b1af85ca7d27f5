"""Many workers through Optuna's gRPC storage proxy (``kanlab storage serve``) on PostgreSQL.

The cluster test is also the simulation of the SLURM recipe (examples/slurm/search.sbatch):
independent ``kanlab worker`` processes, each with its own node name and rank as SLURM sets
them, all pointed at one proxy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from kanlab.cli import main
from kanlab.search import counts
from kanlab.search.storage import open_storage
from kanlab.testing.postgres import grpc_proxy

pytest.importorskip("grpc")


@pytest.fixture(scope="module")
def proxy(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``grpc://127.0.0.1:PORT``: ``kanlab storage serve`` in front of the session's server."""
    with grpc_proxy(postgres_url, log=tmp_path_factory.mktemp("proxy") / "proxy.log") as url:
        yield url


def _started_by(results_dir: Path, pid: int) -> int | None:
    """The number of a trial the toy objective started in process ``pid``, if any."""
    for marker in (results_dir / "toy").glob("started-*"):
        if marker.read_text() == str(pid):
            return int(marker.name.split("-")[1])
    return None


# Issue 29's done-when, so in the default run (about 17 s: five processes that import torch
# and Lightning)
def test_four_workers_on_four_nodes_through_the_proxy_survive_a_kill(
    proxy: str, postgres_url: str, write_spec: Any, results_dir: Path
) -> None:
    spec = write_spec(name="grpc20", n_trials=20, pruner={"name": "none"},
                      heartbeat_interval=1, grace_period=6)
    workers = []
    for rank in range(4):  # what srun gives each task of the recipe
        env = {**os.environ, "KANLAB_TOY_SLEEP": "0.15", "KANLAB_RESULTS": str(results_dir),
               "SLURM_PROCID": str(rank), "SLURMD_NODENAME": f"node{rank}",
               "OMP_NUM_THREADS": "1"}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "kanlab.cli", "worker", str(spec), "--storage", proxy,
             "--study", "grpc20", "--worker-index", str(rank + 1), "--device", "cpu"], env=env))
    victim = workers[0]
    deadline = time.monotonic() + 240
    while (killed := _started_by(results_dir, victim.pid)) is None:
        assert time.monotonic() < deadline and victim.poll() is None
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)  # dies mid-trial, without a goodbye
    assert victim.wait() == -signal.SIGKILL
    assert [w.wait(timeout=300) for w in workers[1:]] == [0, 0, 0]

    study = optuna.load_study(study_name="grpc20", storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    assert counts(study).finished == 20
    assert trials[killed].state == TrialState.FAIL
    assert trials[killed].user_attrs.get("host") == "node0"
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == trials[killed].params
    assert retried[0].user_attrs["host"] in {"node1", "node2", "node3"}
    # Other FAIL trials can only be ones a worker started and found not needed.
    others = [t for t in trials if t.state == TrialState.FAIL and t.number != killed]
    assert all(t.user_attrs.get("fail_reason", "").startswith("not needed") for t in others)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert {t.user_attrs["host"] for t in finished} <= {"node0", "node1", "node2", "node3"}
    assert len({t.user_attrs["host"] for t in finished}) >= 2


def test_grpc_url_works_where_a_storage_url_does(
    proxy: str, make_spec: Any, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kanlab.search import run_study

    study = run_study(make_spec(name="grpc_api", n_trials=3), storage=proxy,
                      results_dir=results_dir)
    assert counts(study).finished == 3
    assert isinstance(study.trials[0].user_attrs["host"], str)
    assert main(["study", "show", "--storage", proxy, "--study", "grpc_api",
                 "--results-dir", str(results_dir)]) == 0
    assert "3 finished trials" in capsys.readouterr().out
    out = results_dir / "history.png"
    assert main(["plot", "study", "--storage", proxy, "--study", "grpc_api", "--output",
                 str(out), "--results-dir", str(results_dir)]) == 0
    assert out.stat().st_size > 0
    assert open_storage(proxy).get_all_studies()


def test_storage_serve_refuses_a_journal_and_a_closed_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["storage", "serve", f"journal:///{tmp_path}/s.log"]) == 2
    err = capsys.readouterr().err
    assert "does not support journal storage" in err and len(err.strip().splitlines()) == 1
    assert main(["storage", "serve", "sqlite:///x.db", "--port", "70000"]) == 2
    assert main(["study", "list", "--storage", "grpc://127.0.0.1"]) == 2
    assert "grpc://HOST:PORT" in capsys.readouterr().err


SBATCH = Path(__file__).resolve().parents[2] / "examples" / "slurm" / "search.sbatch"
FAKE_SRUN = """#!/bin/bash
# srun as SLURM runs a job step: $FAKE_NTASKS tasks, each with its rank and node name.
while [[ "$1" == --* ]]; do shift; done
pids=()
for ((i = 0; i < FAKE_NTASKS; i++)); do
  SLURM_PROCID=$i SLURMD_NODENAME=node$i "$@" &
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
exit $rc
"""


@pytest.mark.slow  # about 20 s: the proxy and four workers, each a fresh interpreter
def test_the_slurm_recipe_runs_on_simulated_nodes(
    postgres_url: str, write_spec: Any, tmp_path: Path, results_dir: Path
) -> None:
    """The shipped job script as written, with ``srun`` replaced by four local tasks."""
    from kanlab.testing.postgres import _free_port

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "kanlab").write_text(f'#!/bin/bash\nexec {sys.executable} -m kanlab.cli "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    spec = write_spec(name="slurm12", n_trials=12, pruner={"name": "none"})
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_NTASKS": "4",
           "KANLAB_DB_URL": postgres_url, "SPEC": str(spec), "N_TRIALS": "12",
           "STUDY": "slurm12", "PORT": str(_free_port()), "PROXY_HOST": "127.0.0.1",
           "KANLAB_RESULTS": str(results_dir), "KANLAB_TOY_SLEEP": "0.3",
           "OMP_NUM_THREADS": "1"}
    run = subprocess.run(["bash", str(SBATCH)], env=env, timeout=600)
    assert run.returncode == 0
    study = optuna.load_study(study_name="slurm12", storage=postgres_url)
    finished = [t for t in study.get_trials(deepcopy=False)
                if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 12
    assert {t.user_attrs["host"] for t in finished} <= {f"node{i}" for i in range(4)}
    assert {t.user_attrs["worker"] for t in finished} <= {1, 2, 3, 4}
    assert len({t.user_attrs["host"] for t in finished}) >= 2
