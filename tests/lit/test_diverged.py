"""Divergence is a failure, not a result (issue 30): a run whose loss or weights stop being
finite stops with one line naming the step and the value, records no row and leaves no run
directory; in a search the trial is FAIL with that line as its reason."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch
import yaml
from optuna.trial import TrialState

from kanlab.cli import main
from kanlab.errors import Diverged
from kanlab.lit.diverged import StopOnDivergence

# Plain SGD at lr=10 on the synthetic x*y task overflows to inf within the first epochs.
DIVERGING = {"name": "div", "model": {"name": "mlp", "widths": [2, 32, 1]},
             "data": {"name": "synthetic", "function": "xy"},
             "optim": {"name": "sgd", "lr": 10.0}, "trainer": {"max_epochs": 3}}


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_a_diverging_run_stops_with_one_line_and_records_nothing(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "div.yaml"
    path.write_text(yaml.safe_dump(DIVERGING))
    assert main(["train", str(path)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Diverged: training diverged at step " in err and "train loss = " in err, err
    assert "Traceback" not in err
    assert _files(results_dir) == []  # no runs.jsonl row, no run directory
    assert not (results_dir / "synthetic" / "runs").exists()


def test_a_diverging_trial_is_failed_with_its_reason(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # lr 10 diverges, lr 0.01 trains: the study goes on past its diverged trials
    spec = {"name": "divstudy", "base": DIVERGING, "n_trials": 2, "metric": "val/loss",
            "direction": "minimize", "sampler": {"name": "random", "seed": 0},
            "space": {"optim.lr": {"categorical": [10.0, 0.01]}}}
    path = tmp_path / "divstudy.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["search", str(path)]) == 0
    study = optuna.load_study(study_name="divstudy",
                              storage=f"sqlite:///{results_dir}/studies/divstudy.db")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and all(t.params["optim.lr"] == 10.0 for t in failed)
    for trial in failed:
        assert trial.user_attrs["fail_reason"].startswith("Diverged: training diverged at step ")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2 and all(t.params["optim.lr"] == 0.01 for t in complete)
    rows = (results_dir / "synthetic" / "runs.jsonl").read_text().splitlines()
    assert len(rows) == 2  # only the completed trials are results


def test_non_finite_parameters_stop_the_run_at_the_epoch_end() -> None:
    class Module:
        def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
            return [("net.0.weight", torch.tensor([1.0, float("nan")]))]

    class Trainer:
        global_step = 40
        current_epoch = 2

    with pytest.raises(Diverged, match=r"by step 40 \(epoch 2\): parameter net.0.weight = nan"):
        StopOnDivergence().on_train_epoch_end(Trainer(), Module())  # type: ignore[arg-type]
    with pytest.raises(Diverged, match=r"at step 40 \(epoch 2\): train loss = inf"):
        StopOnDivergence().on_train_batch_end(
            Trainer(), Module(), {"loss": torch.tensor(float("inf"))}, None, 0)  # type: ignore[arg-type]
