"""Trial user attributes written in one transaction on a database; metrics by name."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import sqlalchemy
from sqlalchemy import event

from kanlab.search._objective import metric_value, set_user_attrs


def test_set_user_attrs_one_commit_on_sqlite(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    attrs = {"config": {"model": {"name": "mlp"}}, "seed": 3, "rerun": "kanlab train x",
             "gone": None}
    event.listen(sqlalchemy.engine.Engine, "commit", count)
    try:
        set_user_attrs(trial, attrs)
    finally:
        event.remove(sqlalchemy.engine.Engine, "commit", count)
    assert len(commits) == 1  # Optuna's set_user_attr: one commit per key (4 here)
    assert trial.user_attrs == attrs  # the trial's own view
    assert storage.get_trial(trial._trial_id).user_attrs == attrs  # what other workers read
    set_user_attrs(trial, {"seed": 4, "epochs": 2})  # overwrites like set_user_attr
    assert storage.get_trial(trial._trial_id).user_attrs["seed"] == 4


def test_set_user_attrs_in_memory() -> None:
    study = optuna.create_study()  # in memory: one call per key
    trial = study.ask()
    set_user_attrs(trial, {"a": 1, "b": [1, 2]})
    assert study.trials[0].user_attrs == {"a": 1, "b": [1, 2]}


def test_metric_value_reads_logged_then_row_metrics_and_names_the_closest() -> None:
    row = {"params": 1234, "metrics": {"test/acc": 0.5}}
    assert metric_value("val/acc", {"val/acc": 0.75}, row) == 0.75
    assert metric_value("params", {}, row) == 1234.0
    assert metric_value("test/acc", {}, row) == 0.5
    with pytest.raises(ValueError, match=r"Unknown metric 'val/ac'\. Did you mean 'val/acc'\?"):
        metric_value("val/ac", {"val/acc": 0.75}, row)
