"""The one place that touches Optuna's internals (fenced: nothing else in kanlab may).

Optuna's public API covers everything kanlab does except four things that either have no
public form or cost the search engine its per-trial budget on a database:

* **Heartbeats of a storage that has none.** Journal files and the gRPC proxy do not keep
  heartbeats; Optuna's ``fail_stale_trials`` and ``study.optimize`` ask a storage for them
  through the abstract :class:`BaseHeartbeat` (``optuna.storages._heartbeat``), so
  :mod:`kanlab.search.storage` mixes that class in.
* **Counting trials by state.** ``BaseStorage.get_n_trials`` is public but loads every trial
  of the study on every storage; workers count before each trial, so on a database this is
  one ``SELECT state, COUNT(*) ... GROUP BY state`` on Optuna's ``trials`` table.
* **Several user attributes in one statement.** ``Trial.set_user_attr`` is one transaction
  (3-4 round trips) per key; on PostgreSQL and SQLite :func:`write_user_attrs` writes them
  with one multi-row upsert into Optuna's ``trial_user_attributes`` table.
* **Ids.** ``Study._study_id``, ``Trial._trial_id`` and the RDB storage under Optuna's cache
  wrapper (``_CachedStorage._backend``) have no public accessor.

Each falls back to the public API when the internal is missing, but a silent fallback would
hide a slower (or, for a changed table layout, wrong) engine. So pyproject.toml bounds
``optuna`` to :data:`TESTED` and ``tests/search/test_optuna_private.py`` fails loudly on an
Optuna outside it or without these names: a new Optuna release is adopted by running that
test (and the storage tests), then widening both bounds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

__all__ = ["TESTED", "BaseHeartbeat", "count_by_state", "in_tested_range", "rdb_backend",
           "server_storage", "study_id", "study_storage", "trial_id", "write_user_attrs"]

TESTED = ("4.2", "5.2")  # lowest tested release, first untested one (as in pyproject.toml)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def in_tested_range(version: str = optuna.__version__) -> bool:
    """Whether ``version`` lies in ``[TESTED[0], TESTED[1])``."""
    return _version(TESTED[0]) <= _version(version) < _version(TESTED[1])


def study_id(study: optuna.Study) -> int:
    return int(study._study_id)


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    return int(trial._trial_id)


def study_storage(study: optuna.Study) -> BaseStorage:
    return study._storage


def rdb_backend(storage: BaseStorage) -> RDBStorage | None:
    """The :class:`RDBStorage` behind ``storage`` (Optuna wraps it in a cache), or ``None``."""
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, RDBStorage) else None


def count_by_state(study: optuna.Study) -> dict[TrialState, int] | None:
    """Trials by state in one query on a database; ``None`` for other storages."""
    backend = rdb_backend(study_storage(study))
    if backend is None:
        return None
    from sqlalchemy import text

    with backend.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT state, COUNT(*) FROM trials WHERE study_id = :s GROUP BY state"),
            {"s": study_id(study)},
        ).all()
    by_state = {s: 0 for s in TrialState}
    by_state.update({TrialState[str(state)]: int(n) for state, n in rows})
    return by_state


def write_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> bool:
    """Upsert ``attrs`` as the running trial's user attributes in one statement.

    Returns ``False`` (nothing written) where this does not apply: not a PostgreSQL or
    SQLite database, or an Optuna without the trial's cached view. The caller then uses
    ``Trial.set_user_attr``. Like Optuna's own write, it refuses a finished trial.
    """
    backend = rdb_backend(trial.storage)
    cached = getattr(trial, "_cached_frozen_trial", None)
    if backend is None or cached is None or backend.engine.name not in ("postgresql", "sqlite"):
        return False
    from sqlalchemy import text

    tid = trial_id(trial)
    rows = [{"t": tid, "k": str(k), "v": json.dumps(v)} for k, v in attrs.items()]
    values = ", ".join(f"(:t, :k{i}, :v{i})" for i in range(len(rows)))
    params: dict[str, Any] = {"t": tid, "running": TrialState.RUNNING.name}
    for i, row in enumerate(rows):
        params[f"k{i}"], params[f"v{i}"] = row["k"], row["v"]
    # Only while the trial runs (Optuna's check_trial_is_updatable), in the same statement.
    sql = (f"INSERT INTO trial_user_attributes (trial_id, key, value_json) "
           f"SELECT v.* FROM (VALUES {values}) AS v(trial_id, key, value_json) "
           f"WHERE EXISTS (SELECT 1 FROM trials WHERE trial_id = :t AND state = :running) "
           f"ON CONFLICT (trial_id, key) DO UPDATE SET value_json = excluded.value_json")
    if backend.engine.name == "sqlite":  # SQLite names VALUES columns column1, column2, ...
        sql = (f"INSERT INTO trial_user_attributes (trial_id, key, value_json) "
               f"SELECT * FROM (VALUES {values}) "
               f"WHERE EXISTS (SELECT 1 FROM trials WHERE trial_id = :t AND state = :running) "
               f"ON CONFLICT (trial_id, key) DO UPDATE SET value_json = excluded.value_json")
    with backend.engine.begin() as conn:
        written = conn.execute(text(sql), params).rowcount
    if written != len(rows):
        raise optuna.exceptions.UpdateFinishedTrialError(
            f"Trial#{trial.number} has already finished and can not be updated.")
    cached.user_attrs.update(attrs)
    return True


def server_storage(storage: RDBStorage) -> BaseStorage:
    """What Optuna's gRPC proxy serves: the database behind Optuna's in-process cache, as
    ``run_grpc_proxy_server``'s documentation asks (``optuna.storages.get_storage``, which
    Optuna calls internal)."""
    return optuna.storages.get_storage(storage)
