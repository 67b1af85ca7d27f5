"""The fence around Optuna's internals: fails loudly on an Optuna kanlab was not tested with."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import optuna
import pytest

from kanlab.search import _optuna_private as private

ROOT = Path(__file__).resolve().parents[2]


def test_installed_optuna_is_a_tested_release() -> None:
    assert private.in_tested_range(), (
        f"optuna {optuna.__version__} is outside the range kanlab was tested with "
        f"({private.TESTED[0]} <= version < {private.TESTED[1]}): run tests/search (storage, "
        "PostgreSQL, journal, gRPC) against it, then widen TESTED and pyproject.toml's bound.")
    assert not private.in_tested_range("9.0.0") and not private.in_tested_range("4.1.0")


def test_pyproject_bound_is_the_adapter_range() -> None:
    pin = re.search(r'"optuna>=([\d.]+),<([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin is not None and pin.groups() == private.TESTED


def test_the_internals_it_uses_exist() -> None:
    from optuna.storages import RDBStorage
    from optuna.storages._heartbeat import BaseHeartbeat

    assert {"record_heartbeat", "_get_stale_trial_ids", "get_heartbeat_interval",
            "get_heartbeat_stale_trial_callback"} <= set(dir(BaseHeartbeat))
    study = optuna.create_study()
    trial = study.ask()
    assert isinstance(study._study_id, int) and isinstance(trial._trial_id, int)
    assert hasattr(trial, "_cached_frozen_trial")
    assert isinstance(private.rdb_backend(optuna.storages.get_storage(
        "sqlite:///:memory:")), RDBStorage)


def test_only_the_adapter_imports_optuna_internals() -> None:
    offenders = []
    for path in sorted((ROOT / "kanlab").rglob("*.py")):
        if path.name in ("_optuna_private.py", "_index_data.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.startswith("optuna") and any(
                              part.startswith("_") for part in n.split("."))]
    assert offenders == []


# Optuna attributes without a public accessor that kanlab reads (through the adapter only).
OPTUNA_PRIVATE_ATTRS = {"_study_id", "_trial_id", "_storage", "_backend", "_cached_frozen_trial",
                        "_set_trial_attr_without_commit", "_create_scoped_session",
                        "_n_warmup_steps"}


def test_only_the_adapter_reads_optuna_private_attributes() -> None:
    offenders = []
    for path in sorted((ROOT / "kanlab").rglob("*.py")):
        if path.name == "_optuna_private.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in OPTUNA_PRIVATE_ATTRS
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert offenders == []


def test_counts_and_one_statement_attrs(tmp_path: Path) -> None:
    from kanlab.search._objective import set_user_attrs
    from kanlab.search.storage import counts, open_storage

    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path}/s.db"))
    trial = study.ask()
    set_user_attrs(trial, {"a": 1, "b": [2, "x"]})
    assert study.trials[0].user_attrs == {"a": 1, "b": [2, "x"]} == trial.user_attrs
    study.tell(trial, 1.0)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        set_user_attrs(trial, {"c": 3})
    assert counts(study).complete == 1 == counts(study).finished
