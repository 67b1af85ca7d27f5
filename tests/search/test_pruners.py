"""kanlab's median/percentile pruners: Optuna's decisions, without a study read where none is
possible."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from kanlab.search.pruners import PRUNERS, MedianPruner, PercentilePruner


def _study(n_complete: int, seed: int, storage: str | None = None) -> optuna.Study:
    """A study with ``n_complete`` complete trials of 6 noisy epochs each (in memory)."""
    rng = random.Random(seed)
    study = optuna.create_study(direction="maximize", storage=storage)
    for _ in range(n_complete):
        curve = {e: 0.5 + 0.05 * e + rng.gauss(0, 0.05) for e in range(6)}
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=curve[5], intermediate_values=curve))
    return study


SETTINGS = [dict(n_startup_trials=s, n_warmup_steps=w, interval_steps=i)
            for s, w, i in itertools.product((0, 2, 5), (0, 2), (1, 2, 3))]


@pytest.mark.parametrize("kind", ["median", "percentile"])
def test_decisions_equal_optunas(kind: str) -> None:
    ours_cls, theirs_cls = ((MedianPruner, optuna.pruners.MedianPruner) if kind == "median"
                            else (PercentilePruner, optuna.pruners.PercentilePruner))
    extra: dict[str, Any] = {} if kind == "median" else {"percentile": 25.0}
    decisions = 0
    for n_complete, seed, settings in itertools.product((0, 1, 3, 8), (0, 1), SETTINGS):
        study = _study(n_complete, seed)
        rng = random.Random(seed + 100)
        ours = ours_cls(**extra, **settings)
        theirs = theirs_cls(**extra, **settings)
        trial = study.ask()
        for step in range(6):
            trial.report(0.45 + 0.05 * step + rng.gauss(0, 0.08), step)
            frozen = study._storage.get_trial(trial._trial_id)
            assert ours.prune(study, frozen) == theirs.prune(study, frozen), (
                n_complete, seed, settings, step)
            decisions += theirs.prune(study, frozen)
    assert decisions > 0  # the comparison covered trials that Optuna prunes


def test_no_study_read_before_a_decision_is_possible(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    study = _study(3, 0, f"sqlite:///{tmp_path / 's.db'}")
    reads: list[Any] = []
    real = study.get_trials
    monkeypatch.setattr(study, "get_trials", lambda *a, **k: reads.append(k) or real(*a, **k))
    pruner = PRUNERS.get("median")(n_startup_trials=5, n_warmup_steps=1, interval_steps=2)
    trial = study.ask()
    for step in range(6):
        trial.report(0.1, step)
        assert not pruner.prune(study, study._storage.get_trial(trial._trial_id))
    assert reads == []  # 3 complete < 5 start-up trials: one COUNT, no trial loaded
    _study_more = [optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.9,
                                             intermediate_values={e: 0.9 for e in range(6)})
                   for _ in range(2)]
    study.add_trials(_study_more)
    trial = study.ask()
    trial.report(0.1, 0)  # step 0 < n_warmup_steps: no read
    assert not pruner.prune(study, study._storage.get_trial(trial._trial_id)) and reads == []
    trial.report(0.1, 1)  # a check step with 5 complete trials: Optuna's rule, which reads
    assert pruner.prune(study, study._storage.get_trial(trial._trial_id)) and reads
