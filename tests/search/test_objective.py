"""Trial user attributes written in one transaction on a database."""

from __future__ import annotations

from pathlib import Path

import optuna
import sqlalchemy
from sqlalchemy import event

from kanlab.search._objective import set_user_attrs


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
