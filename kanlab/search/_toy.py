"""A training-free objective for storage, concurrency and fault tests (``objective:`` in a spec).

``kanlab.search._toy:objective`` draws the space like the real objective, then scores the
values with a deterministic function and reports ``epochs`` intermediate values, sleeping
``$KANLAB_TOY_SLEEP`` seconds per epoch. Before its first epoch it writes
``<results dir>/toy/started-<number>`` so a test can tell that a trial is running.
``$KANLAB_TOY_FAIL`` makes every trial fail: ``setup`` with a :class:`~kanlab.errors.SetupError`
(an environment problem), any other value with a ``RuntimeError``.
"""

from __future__ import annotations

import os
import time
import zlib
from typing import Any

import optuna

from kanlab.errors import SetupError
from kanlab.search._objective import TrialContext
from kanlab.search._space import format_value
from kanlab.search.spec import StudyPlan

__all__ = ["objective"]


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
    failure = os.environ.get("KANLAB_TOY_FAIL")  # fault tests: every trial fails like this
    if failure == "setup":
        raise SetupError("toy objective: the environment lacks what trials need")
    if failure:
        raise RuntimeError(f"toy objective failed ({failure})")
    final = score(values)
    epochs = int(os.environ.get("KANLAB_TOY_EPOCHS", "3"))
    sleep = float(os.environ.get("KANLAB_TOY_SLEEP", "0"))
    trial.set_user_attr("config", plan.trial_config(values, trial.number))
    trial.set_user_attr("rerun", plan.rerun_command(values, trial.number))
    trial.set_user_attr("params", len(values))
    for epoch in range(epochs):
        time.sleep(sleep)
        if plan.spec.multi_objective:
            continue
        trial.report(final * (epoch + 1) / epochs, epoch)
        trial.set_user_attr("epochs", epoch + 1)
        if plan.spec.pruner_name != "none" and trial.should_prune():
            raise optuna.TrialPruned(f"Trial was pruned at epoch {epoch}.")
    trial.set_user_attr("epochs", epochs)
    if plan.spec.multi_objective:
        return [final, float(len(values))][: len(plan.spec.metric_names)]
    return final
