"""TrialJudge: the pruning decision of a training trial, in the worker and in a pickled copy
(what a ``ddp_spawn`` rank 0 receives)."""

from __future__ import annotations

import pickle
from pathlib import Path

import optuna

from kanlab.search._pruning import TrialJudge
from kanlab.search.storage import open_storage


def test_the_judge_reports_and_asks_the_pruner_here_and_in_a_copy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/j.db"
    study = optuna.create_study(study_name="j", storage=open_storage(url),
                                pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    trial = study.ask()
    judge = TrialJudge(trial, url=url)
    assert judge(0, 0.5) is False and judge(1, 2.0) is True  # in the worker's process
    copy = pickle.loads(pickle.dumps(judge))  # no connection or trial travels
    assert copy._trial is None
    assert copy(2, 0.25) is False and copy(3, 5.0) is True
    stored = study.trials[0].intermediate_values
    assert stored == {0: 0.5, 1: 2.0, 2: 0.25, 3: 5.0}


def test_a_judge_without_pruning_only_reports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/n.db"
    study = optuna.create_study(study_name="n", storage=open_storage(url),
                                pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    copy = pickle.loads(pickle.dumps(TrialJudge(study.ask(), url=url, prune=False)))
    assert copy(0, 9.0) is False
    assert study.trials[0].intermediate_values == {0: 9.0}
