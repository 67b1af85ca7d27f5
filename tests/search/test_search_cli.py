from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanlab.cli import main
from kanlab.search import load_study
from kanlab.search._checks import check_plan

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "search").glob("*.yaml"))


def _bad(make_spec: Any, **changes: Any) -> dict[str, Any]:
    spec = make_spec(**changes)
    return {k: v for k, v in spec.items() if v is not None}


BAD_SPECS: list[tuple[dict[str, Any], str]] = [
    ({"space": {"model.activaton": {"categorical": ["relu"]}}}, "Did you mean 'activation'"),
    ({"space": {"model.activation": {"categorical": ["relu", "crelu"]}}},
     "Unknown activation 'crelu'"),
    ({"space": {"model.activation": {"categorical": []}}}, "non-empty list"),
    ({"space": {"optim.lr": {"float": [0.1, 0.01]}}}, "low <= high"),
    ({"space": {"optim.lr": {"float": [0.0, 0.1], "log": True}}}, "low > 0"),
    ({"space": {"model.widths.5": {"int": [1, 4]}}}, "must index a list"),
    ({"space": {"trainer.max_epochs": {"float": [1.5, 2.5]}}}, "must be an integer"),
    ({"sampler": {"name": "tpee"}}, "Did you mean 'tpe'"),
    ({"pruner": {"name": "medain"}}, "Did you mean 'median'"),
    ({"pruner": {"name": "median", "n_warmup": 2}}, "Did you mean 'n_warmup_steps'"),
    ({"metrics": ["val/acc", "params"], "directions": ["maximize", "minimize"]},
     "`pruner` must be none for a multi-objective study"),
    ({"directions": ["maximize", "minimize"]}, "one entry per metric"),
    ({"direction": "maximise"}, "Did you mean 'maximize'"),
    ({"n_trials": 0}, "`n_trials` must be >= 1"),
    ({"base": "no/such/base.yaml"}, "does not exist"),
    ({"base": {"name": "b", "model": {"name": "mlpp"}, "data": {"name": "synthetic"}}},
     "Did you mean 'mlp'"),
    ({"sampler": {"name": "grid"}}, "needs a `step` for the grid sampler"),
    ({"objective": "no_colon"}, "`objective` must be 'train' or 'module:function'"),
    ({"spaces": {}}, "Did you mean 'space'"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_SPECS)
def test_bad_specs_fail_in_one_line_before_any_storage(
    changes: dict[str, Any], message: str, make_spec: Any, tmp_path: Path,
    results_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    spec = make_spec(**changes)
    if "spaces" in changes:
        spec.pop("space")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (results_dir / "studies").exists()


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["--storage", "mysql://u@h/db"], "journal:/// or grpc://host:port URL", 2),
        (["--storage", "journal:///no/such/dir/x.log"], "does not exist", 2),
        (["--storage", "sqlite:////no/such/dir/x.db"], "does not exist", 2),
        (["--storage", "sqlite://"], "must name a SQLite file", 2),
        (["--storage", "postgresql+psycopg:///kanlab"], "must name a host", 2),
        (["--storage", "postgresql+psycopg://u:s3cret@127.0.0.1:1/db"], "Cannot open storage", 2),
        (["--n-trials", "0"], "`--n-trials` must be >= 1", 2),
        (["--workers", "0"], "`--workers` must be >= 1", 2),
        (["--set", "model.widthz=[2, 1]"], "Did you mean 'widths'", 2),
    ],
)
def test_bad_storage_and_options(
    argv: list[str], message: str, code: int, write_spec: Any, results_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["search", str(write_spec()), *argv]) == code
    err = capsys.readouterr().err
    assert message in err and "s3cret" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (results_dir / "studies").exists()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
@pytest.mark.usefixtures("fmnist_dir")  # tiny_fashion_mnist: skipped without it
def test_shipped_studies_validate(path: Path) -> None:
    # What `kanlab search` checks before it creates a study: every probe config of the space
    # builds and runs a forward pass on the data (a load_study alone missed a top-k k=16 on
    # the 10-wide output layer).
    plan = load_study(path)
    check_plan(plan)
    assert plan.spec.space.all_params()
    assert plan.spec.n_trials >= 1


@pytest.mark.usefixtures("fmnist_dir")  # tiny_fashion_mnist: skipped without it
def test_search_show_export_with_real_training(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "name": "tiny",
        "base": {"name": "tiny", "model": {"name": "mlp", "widths": [784, 8, 10]},
                 "data": {"name": "tiny_fashion_mnist", "batch_size": 200},
                 "trainer": {"max_epochs": 1}},
        "n_trials": 2,
        "sampler": {"name": "random"},
        "space": {"model.activation": {"categorical": ["relu", "crrelu"]}},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["search", str(path), "--set", "optim.lr=0.01"]) == 0
    out = capsys.readouterr().out
    assert "2 finished trials" in out and "optuna-dashboard sqlite:///" in out
    assert main(["study", "export", "--study", "tiny"]) == 0
    out_dir = results_dir / "tiny_fashion_mnist" / "studies"
    doc = json.loads((out_dir / "tiny.json").read_text())
    assert doc["study"] == "tiny" and doc["metrics"] == ["val/acc"]
    assert [t["state"] for t in doc["trials"]].count("COMPLETE") >= 1
    first = doc["trials"][0]["user_attrs"]
    assert first["config"]["optim"]["lr"] == 0.01
    assert first["rerun"].startswith("OMP_NUM_THREADS=")
    assert " kanlab train " in first["rerun"] and "optim.lr=0.01" in first["rerun"]
    assert (out_dir / "tiny.csv").read_text().startswith("number,state,val/acc")
    best = yaml.safe_load((out_dir / "tiny_best.yaml").read_text())
    assert best["model"]["activation"] in ("relu", "crrelu")
    rows = (results_dir / "tiny_fashion_mnist" / "runs.jsonl").read_text().splitlines()
    row = json.loads(rows[0])
    assert row["trial"]["study"] == "tiny"
    assert row["trial"]["device"] == first["device"] == "cpu"  # no GPU here: the CPU default
    assert row["device"] == "cpu"
    assert main(["study", "show", "--study", "tiny"]) == 0
    assert "Best: trial" in capsys.readouterr().out


def test_list_shows_samplers_and_pruners(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "samplers"]) == 0
    assert "tpe" in capsys.readouterr().out
    assert main(["list", "pruners"]) == 0
    assert "median" in capsys.readouterr().out


# --------------------------------------------------------------------------- issue 13


def _kan_base(tmp_path: Path) -> Path:
    """A B-spline KAN base with ``spline_order`` (which fast_kan does not accept)."""
    base = {
        "name": "kanbase",
        "model": {"name": "kan_mlp", "widths": [784, 8, 10],
                  "layer": {"name": "b_spline_kan", "grid_size": 5, "spline_order": 3}},
        "data": {"name": "tiny_fashion_mnist", "batch_size": 200},
        "trainer": {"max_epochs": 2},
    }
    path = tmp_path / "kanbase.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


@pytest.mark.usefixtures("fmnist_dir")  # tiny_fashion_mnist: skipped without it
def test_printed_rerun_of_the_best_trial_runs_as_printed(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import shlex

    _kan_base(tmp_path)
    spec = {
        "name": "rerun", "base": "kanbase.yaml", "n_trials": 1,
        "sampler": {"name": "random", "seed": 0},
        "fixed": {"trainer.max_epochs": 1},
        "space": {"model.layer.name": {"categorical": ["fast_kan"]},
                  "model.layer.grid_size": {"int": [3, 4]}},
    }
    path = tmp_path / "rerun.yaml"
    path.write_text(yaml.safe_dump(spec))
    # trainer.max_epochs is set by `fixed` and again by --set: the command must say it once.
    assert main(["search", str(path), "--set", "trainer.max_epochs=1"]) == 0
    out = capsys.readouterr().out
    reruns = [line.removeprefix("Rerun: ") for line in out.splitlines()
              if line.startswith("Rerun: ")]
    assert len(reruns) == 1 and len(reruns[0]) > 120  # one line, not wrapped when piped
    command = reruns[0]
    assert command.count("trainer.max_epochs") == 1 and "spline_order" not in command
    assert main(["study", "best", "--study", "rerun"]) == 0
    best = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert best[0]["rerun"] == command  # each line is a JSON document (json.tool works)
    assert main(["study", "show", "--study", "rerun"]) == 0
    assert f"Rerun: {command}\n" in capsys.readouterr().out
    assert main(["study", "export", "--study", "rerun"]) == 0
    with (results_dir / "tiny_fashion_mnist" / "studies" / "rerun.csv").open() as fh:
        assert next(csv.DictReader(fh))["rerun"] == command
    import torch

    env, *argv = shlex.split(command)
    assert env == f"OMP_NUM_THREADS={torch.get_num_threads()}"  # the trial's thread count
    assert argv[:2] == ["kanlab", "train"]
    assert main(argv[1:]) == 0  # exactly as printed (this process has those threads)
    rows = [json.loads(r) for r in
            (results_dir / "tiny_fashion_mnist" / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and rows[0]["config_hash"] == rows[1]["config_hash"]
    assert rows[0]["seed"] == rows[1]["seed"] and rows[0]["threads"] == rows[1]["threads"]
    assert rows[0]["metrics"]["test/acc"] == rows[1]["metrics"]["test/acc"]


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ("kan_grid.yaml", {"model.layer.name": "fast_kan", "model.layer.grid_size": 5}),
        ("kan_grid.yaml", {"model.layer.name": "relu_kan", "model.layer.grid_size": 4,
                           "model.layer.spline_order": 2}),
        ("demo.yaml", {"model.name": "kan_mlp", "model.layer": {"name": "fast_kan"}}),
        ("demo.yaml", {"model.name": "mlp", "model.activation": {"name": "topk", "k": 8}}),
    ],
)
def test_rerun_command_gives_the_trial_config(spec: str, values: dict[str, Any]) -> None:
    import shlex

    from kanlab.config import load_experiment, to_dict

    plan = load_study(REPO / "search" / spec, ["trainer.max_epochs=1"])
    argv = shlex.split(plan.rerun_command(values, 3))
    sets = argv[argv.index("--set") + 1:]
    assert len({s.partition("=")[0] for s in sets}) == len(sets)  # no key set twice
    rerun = load_experiment(argv[2], sets)
    assert to_dict(rerun) == to_dict(load_experiment(plan.trial_config(values, 3)))


def test_rerun_command_reads_the_base_once_per_version_of_the_file(tmp_path: Path) -> None:
    import os

    import yaml

    from kanlab.search._rerun import _read_base, rerun_command

    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"seed": 0, "optim": {"lr": 0.1}}))
    config = {"name": "base", "seed": 0, "optim": {"lr": 0.2}}
    assert rerun_command(base, config).endswith("--set optim.lr=0.2 seed=0")
    misses = _read_base.cache_info().misses
    assert rerun_command(base, config).endswith("--set optim.lr=0.2 seed=0")
    assert _read_base.cache_info().misses == misses  # the second trial read nothing
    base.write_text(yaml.safe_dump({"seed": 0, "optim": {"lr": 0.2}}))  # the file changed
    os.utime(base, ns=(0, base.stat().st_mtime_ns + 1))  # also within the clock's resolution
    assert rerun_command(base, config).endswith("--set seed=0")


def test_plain_progress_lines_when_not_a_terminal(
    write_spec: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", str(write_spec(n_trials=3))]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "study toy: 0/3 finished trials"
    trials = [line for line in err if line.startswith("trial ")]
    assert len(trials) == 3 and "3/3 finished, best " in trials[-1]


def test_setup_error_stops_the_study_at_its_first_trial(
    write_spec: Any, results_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import optuna

    monkeypatch.setenv("KANLAB_TOY_FAIL", "setup")
    assert main(["search", str(write_spec())]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "kanlab: error: Stopped study 'toy': toy objective: the environment lacks what "
        "trials need"
    )
    assert "Traceback" not in err
    study = optuna.load_study(study_name="toy",
                              storage=f"sqlite:///{results_dir}/studies/toy.db")
    assert len(study.trials) == 1  # not one failure per trial


def test_failed_trials_are_listed_with_their_reason(
    write_spec: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KANLAB_TOY_FAIL", "boom")
    assert main(["search", str(write_spec())]) == 1
    assert "trial 0 failed: RuntimeError: toy objective failed (boom)" in capsys.readouterr().err
    assert main(["study", "show", "--study", "toy"]) == 0
    out = capsys.readouterr().out
    assert "0 finished trials (3 failed, 0 running)." in out
    assert "Failed trials:\n  trial 0: RuntimeError: toy objective failed (boom)\n" in out


def test_study_list_without_a_study_lists_the_results_studies(
    write_spec: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", str(write_spec(name="first", n_trials=1))]) == 0
    assert main(["search", str(write_spec(name="second", n_trials=1))]) == 0
    capsys.readouterr()
    assert main(["study", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["first", "second"]
    assert lines[0].startswith("first: 1 finished, 0 running, 0 failed (sqlite:///")


def test_worker_starts_a_study_in_a_shared_storage_only_when_named(
    write_spec: Any, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", str(write_spec(name="other", n_trials=1))]) == 0
    db = str(results_dir / "studies" / "other.db")
    spec = str(write_spec(n_trials=1))
    assert main(["worker", spec, "--storage", db]) == 2  # the bad-input suite has the line
    assert main(["worker", spec, "--storage", db, "--study", "toy"]) == 0
    assert "worker ran 1 trials of study toy." in capsys.readouterr().out


def test_resume_with_the_same_command_is_allowed_and_other_values_refused(
    write_spec: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(write_spec(n_trials=1))
    assert main(["search", spec, "--set", "model.widths=[2, 4, 1]"]) == 0
    assert main(["search", spec, "--set", "model.widths=[2, 4, 1]", "--n-trials", "2"]) == 0
    capsys.readouterr()
    assert main(["search", spec, "--n-trials", "3"]) == 2
    err = capsys.readouterr().err
    assert "(model.widths differ; it was started with --set model.widths=[2, 4, 1], this " \
           "command has --set (none))" in err
    assert main(["search", spec, "--n-trials", "3", "--study", "toy_wide"]) == 0


def _wait_for(predicate: Any, proc: Any, seconds: float = 240) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.usefixtures("fmnist_dir")  # tiny_fashion_mnist: skipped without it
def test_ctrl_c_marks_the_trial_failed_and_its_retry_keeps_the_seed(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import optuna
    from optuna.trial import TrialState

    spec = {
        "name": "ctrlc", "n_trials": 1, "seed": 10, "sampler": {"name": "random"},
        "base": {"name": "slow", "model": {"name": "mlp", "widths": [784, 8, 10]},
                 "data": {"name": "tiny_fashion_mnist", "batch_size": 1},
                 # long enough that the signal lands mid-trial (one epoch took < 1 s)
                 "trainer": {"max_epochs": 6}},
        "space": {"model.activation": {"categorical": ["relu", "silu"]}},
    }
    path = tmp_path / "ctrlc.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "KANLAB_RESULTS": str(results_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "kanlab.cli", "search", str(path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = results_dir / "tiny_fashion_mnist" / "runs"
    _wait_for(lambda: runs.is_dir() and any(runs.iterdir()), proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        "kanlab: interrupted — stopped study 'ctrlc' with 0 of 1 trials finished (an "
        f"interrupted trial is failed and queued again); resume with: kanlab search {path}"
    )
    assert "Traceback" not in err
    # the interrupted trial's partial run directory is gone (and the emptied runs/ folder)
    assert not runs.is_dir() or not any(runs.iterdir())
    storage = f"sqlite:///{results_dir}/studies/ctrlc.db"
    trials = optuna.load_study(study_name="ctrlc", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]  # not RUNNING
    assert trials[0].user_attrs["fail_reason"] == "interrupted (Ctrl-C)"
    assert trials[1].params == trials[0].params
    assert trials[0].user_attrs["seed"] == 10
    # The same command resumes: the queued retry trains with the interrupted trial's seed.
    assert main(["search", str(path)]) == 0
    trials = optuna.load_study(study_name="ctrlc", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].user_attrs["seed"] == 10 and trials[1].user_attrs["config"]["seed"] == 10
    assert "seed=10" in trials[1].user_attrs["rerun"]
