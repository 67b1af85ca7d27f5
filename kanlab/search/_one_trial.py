"""One trial through Optuna's ask-and-tell interface: ask, heartbeats, objective, tell.

What ``study.optimize(objective, n_trials=1)`` does, less two study reads a worker does not
need on every trial: Optuna's loop reloads the whole trial after telling it (for callbacks)
and fails stale trials before every ask (a query for stale heartbeats). ``Study.tell``
already returns the told trial, and a worker fails stale trials itself, at most every few
seconds (:class:`StaleCheck`). On PostgreSQL this is about 8 of the 65 statements a toy
trial used to cost (``python -m bench search --coordination``).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from kanlab.search._optuna_private import BaseHeartbeat, study_storage, trial_id

__all__ = ["StaleCheck", "run_one"]

logger = logging.getLogger(__name__)


class StaleCheck:
    """Fail stale trials (their retry is queued by the storage's callback), at most once per
    ``every`` seconds, or now with ``force``."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._last = -float("inf")

    def __call__(self, study: optuna.Study, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


class _Heartbeat:
    """Optuna's heartbeat thread: one beat at the start, then one per interval."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial) -> None:
        storage = study_storage(study)
        self._beat: Callable[[], None] | None = None
        interval = storage.get_heartbeat_interval() if isinstance(storage,
                                                                  BaseHeartbeat) else None
        if interval is not None and isinstance(storage, BaseHeartbeat):
            tid = trial_id(trial)
            self._beat = lambda: storage.record_heartbeat(tid)
        self._interval = float(interval or 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self._beat is not None:
            self._thread = threading.Thread(target=self._run, name="kanlab-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self._beat is not None
        while True:
            try:
                self._beat()
            except Exception as exc:  # a missed beat is retried; the trial goes on
                logger.debug("heartbeat failed: %s", exc)
            if self._stop.wait(self._interval):
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def run_one(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], Any],
    *,
    on_start: Callable[[], None] = lambda: None,
) -> FrozenTrial:
    """Ask one trial, run ``objective`` on it with heartbeats, tell its outcome; the told
    trial. ``on_start`` runs as soon as the trial exists. Exceptions of the objective mark
    the trial FAIL and are logged (a ``KeyboardInterrupt`` is re-raised after the tell).

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: another worker judged the trial stale and
            failed it meanwhile.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed")
        trial = study.ask()
    on_start()
    value: Any = None
    state: TrialState | None = None
    interrupt: KeyboardInterrupt | None = None
    with _Heartbeat(study, trial):
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except KeyboardInterrupt as exc:
            state, interrupt = TrialState.FAIL, exc
        except Exception as exc:
            state = TrialState.FAIL
            if not getattr(exc, "quiet", False):
                    logger.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__,
                               exc,
                               exc_info=logger.isEnabledFor(logging.DEBUG))
    if state is None:
        told = study.tell(trial, value)
    else:
        told = study.tell(trial, state=state)
    if interrupt is not None:
        raise interrupt
    return told
