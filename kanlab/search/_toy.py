"""A training-free objective for storage, concurrency and fault tests (``objective:`` in a spec).

``kanlab.search._toy:objective`` draws the space like the real objective, then scores the
values with a deterministic function and reports ``epochs`` intermediate values, sleeping
``$KANLAB_TOY_SLEEP`` seconds per epoch (``$KANLAB_TOY_EPOCHS`` epochs, default 3; these are
test hooks, listed in :mod:`kanlab.testing` and read by :mod:`kanlab.settings`). Before its
first epoch it writes ``<results dir>/toy/started-<number>`` so a test can tell that a trial
is running.
``$KANLAB_TOY_FAIL`` makes every trial fail: ``setup`` with a :class:`~kanlab.errors.SetupError`
(an environment problem), any other value with a ``RuntimeError``.

:func:`fill_study` writes a large study of such trials without running any (tests and
``bench/search.py`` use it to check that listing, showing and exporting stay fast).
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Iterable
from typing import Any

import optuna
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend, JournalStorage

from kanlab import settings
from kanlab.errors import SetupError
from kanlab.search._objective import TrialContext, set_user_attrs
from kanlab.search._space import format_value
from kanlab.search.spec import StudyPlan

__all__ = ["fill_study", "objective"]


def score(values: dict[str, Any]) -> float:
    """A deterministic value in [0, 1] of the drawn values (numbers near 0.3 score high)."""
    total = 0.0
    for path, value in sorted(values.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total += (float(value) % 1.0 - 0.3) ** 2
        else:
            total += (zlib.crc32(f"{path}={format_value(value)}".encode()) % 100) / 400
    return 1.0 / (1.0 + total)


def objective(trial: optuna.Trial, plan: StudyPlan, ctx: TrialContext) -> Any:
    values = plan.spec.space.suggest(trial, plan.base_raw)
    marker = ctx.results_dir / "toy" / f"started-{trial.number}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    failure = settings.toy_fail()  # fault tests: every trial fails like this
    if failure == "setup":
        raise SetupError("toy objective: the environment lacks what trials need")
    if failure:
        raise RuntimeError(f"toy objective failed ({failure})")
    final = score(values)
    epochs, sleep = settings.toy_epochs(), settings.toy_sleep()
    set_user_attrs(trial, {"config": plan.trial_config(values, trial.number),
                           "rerun": plan.rerun_command(values, trial.number),
                           "params": len(values)})
    for epoch in range(epochs):
        time.sleep(sleep)
        if plan.spec.multi_objective:
            continue
        trial.report(final * (epoch + 1) / epochs, epoch)
        if plan.spec.pruner_name != "none" and trial.should_prune():
            trial.set_user_attr("epochs", epoch + 1)
            raise optuna.TrialPruned(f"Trial was pruned at epoch {epoch}.")
    trial.set_user_attr("epochs", epochs)
    if plan.spec.multi_objective:
        return [final, float(len(values))][: len(plan.spec.metric_names)]
    return final


class _ListBackend(BaseJournalBackend):
    """A journal kept in a list (to write many trials with one file append)."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return list(self.logs[log_number_from:])

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.logs.extend(logs)


def fill_study(url: str, name: str, n: int, *, seed: int = 0) -> None:
    """Write a study of ``n`` finished toy trials (2 in 3 complete, 1 in 3 pruned) to ``url``.

    For large-study tests and benchmarks: the trials look like the toy objective's (params,
    intermediate values, ``config``/``rerun``/``epochs``/``device`` user attributes) but no
    objective runs. A ``journal:`` URL gets the whole study in one append; a database gets
    it through ``Study.add_trials``.
    """
    import random

    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    from kanlab.search.storage import journal_path, open_storage, quiet_optuna

    quiet_optuna()
    journal = _ListBackend()
    memory = JournalStorage(journal)
    study = optuna.create_study(study_name=name, storage=memory, direction="maximize")
    study.set_user_attr("benchmark", "synthetic")
    study.set_user_attr("metrics", ["val/acc"])
    names = ["relu", "silu", "gelu"]
    dists = {"model.activation": CategoricalDistribution(names),
             "optim.lr": FloatDistribution(1e-4, 1e-1, log=True)}
    rng = random.Random(seed)
    trials = []
    for number in range(n):
        params = {"model.activation": rng.choice(names), "optim.lr": 10 ** rng.uniform(-4, -1)}
        value = score(params)
        epochs = 1 if number % 3 == 2 else 3
        trials.append(create_trial(
            state=TrialState.PRUNED if epochs == 1 else TrialState.COMPLETE,
            value=None if epochs == 1 else value, params=params, distributions=dists,
            intermediate_values={e: value * (e + 1) / 3 for e in range(epochs)},
            user_attrs={"config": {"name": "toybase", "seed": number,
                                   "model": {"activation": params["model.activation"]},
                                   "optim": {"lr": params["optim.lr"]}},
                        "epochs": epochs, "device": "cpu", "worker": number % 4,
                        "rerun": f"kanlab train toybase.yaml --set seed={number}",
                        "config_hash": f"{number % 50:012x}", "params": 26}))
    study.add_trials(trials)
    if url.startswith("journal:"):
        JournalFileBackend(str(journal_path(url))).append_logs(journal.logs)
    else:
        optuna.copy_study(from_study_name=name, from_storage=memory,
                          to_storage=open_storage(url))
