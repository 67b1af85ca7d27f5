from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from optuna.trial import TrialState

import kanlab.search._toy as toy
from kanlab.cli import main
from kanlab.search import counts, run_study


def _states(study: optuna.Study) -> list[TrialState]:
    return [t.state for t in study.get_trials(deepcopy=False)]


def test_run_resume_counts_finished_trials(make_spec: Any, results_dir: Path) -> None:
    study = run_study(make_spec(n_trials=4))
    assert counts(study).finished == 4
    assert (results_dir / "studies" / "toy.db").is_file()
    trial = study.trials[0]
    assert trial.user_attrs["config"]["seed"] == 0 + trial.number
    assert trial.user_attrs["rerun"].startswith("kanlab train")
    again = run_study(make_spec(n_trials=4))  # nothing missing: no new trial
    assert len(again.trials) == 4
    more = run_study(make_spec(n_trials=4), n_trials=6)
    assert counts(more).finished == 6 and len(more.trials) == 6


def test_interrupted_search_resumes_without_losing_trials(
    write_spec: Any, results_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(n_trials=5)
    real = toy.score
    calls = {"n": 0}

    def interrupt_third(values: dict[str, Any]) -> float:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(values)

    monkeypatch.setattr(toy, "score", interrupt_third)
    assert main(["search", str(spec)]) == 130  # Ctrl-C mid-study
    study = optuna.load_study(study_name="toy",
                              storage=f"sqlite:///{results_dir}/studies/toy.db")
    assert _states(study).count(TrialState.FAIL) == 1
    finished_before = {t.number: t.values for t in study.trials if t.state in
                       (TrialState.COMPLETE, TrialState.PRUNED)}
    assert len(finished_before) == 2
    monkeypatch.setattr(toy, "score", real)
    assert main(["search", str(spec)]) == 0
    study = optuna.load_study(study_name="toy",
                              storage=f"sqlite:///{results_dir}/studies/toy.db")
    assert counts(study).finished == 5
    after = {t.number: t.values for t in study.trials}
    assert all(after[n] == v for n, v in finished_before.items())
    assert len(study.trials) == 6  # 2 kept + 1 failed + 3 new


def test_pruning_stops_trials_early(make_spec: Any) -> None:
    study = run_study(make_spec(n_trials=8, pruner={"name": "median", "n_startup_trials": 1}))
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned and all(t.user_attrs["epochs"] < 3 for t in pruned)


def test_multi_objective_reports_pareto_front(
    make_spec: Any, capsys: pytest.CaptureFixture[str], write_spec: Any
) -> None:
    spec = write_spec(name="multi", metrics=["val/acc", "params"],
                      directions=["maximize", "minimize"], pruner=None, n_trials=4)
    assert main(["search", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "no pruning" in out
    assert main(["study", "best", "--study", "multi"]) == 0
    assert '"number"' in capsys.readouterr().out


@pytest.mark.slow
def test_two_local_workers_run_exactly_n_trials(
    make_spec: Any, results_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KANLAB_TOY_SLEEP", "0.5")
    threads = torch.get_num_threads()
    study = run_study(make_spec(name="two", n_trials=6), workers=2)
    numbers = [t.number for t in study.trials]
    assert counts(study).finished == 6 and len(numbers) == len(set(numbers)) == 6
    assert torch.get_num_threads() == threads  # the local worker's share is given back
    pids = {int(f.read_text()) for f in (results_dir / "toy").glob("started-*")}
    assert os.getpid() in pids and len(pids) <= 2  # this process is worker 0: one spawn


def test_branch_builds_a_nested_spec_step_by_step(make_spec: Any) -> None:
    """A branch may introduce ``model.layer`` by name, then set its options (validated first)."""
    space = {
        "model.name": {"categorical": ["mlp", "kan_mlp"]},
        "when": [{"if": {"model.name": "kan_mlp"}, "space": {
            "model.layer.name": {"categorical": ["af_kan"]},
            "model.layer.func": {"categorical": ["quad1", "cubic2"]},
        }}],
    }
    study = run_study(make_spec(n_trials=6, space=space))
    layers = [t.user_attrs["config"]["model"].get("layer") for t in study.trials]
    kan = [layer for layer in layers if layer is not None]
    assert kan and all(layer["name"] == "af_kan" and layer["func"] in ("quad1", "cubic2")
                       for layer in kan)


@pytest.mark.parametrize("pruner", [
    {"name": "hyperband", "min_resource": 1, "max_resource": 3, "reduction_factor": 3},
    {"name": "successive_halving", "min_resource": 1, "reduction_factor": 3},
])
def test_multi_fidelity_pruners_from_a_spec(make_spec: Any, pruner: dict[str, Any]) -> None:
    study = run_study(make_spec(name=pruner["name"], n_trials=12, pruner=pruner))
    states = _states(study)
    assert counts(study).finished == 12 and TrialState.PRUNED in states
    assert all(t.user_attrs["epochs"] < 3 for t in study.trials if t.state == TrialState.PRUNED)
