"""The pruning judge of a training trial: report to the Optuna trial, ask its pruner.

Passed to :class:`kanlab.lit.pruning.PruningCallback`, which calls it on global rank 0 only
and broadcasts the answer to every DDP rank. In the worker's own process (one device, or
rank 0 of a subprocess-launched DDP run) it reports through the worker's ``optuna.Trial``.
Under ``ddp_spawn`` rank 0 is a spawned process that receives a pickled copy: the copy
reopens the study's storage from its URL and reports with the storage's public calls
(``set_trial_intermediate_value``, ``get_trial``) and asks the study's pruner, which is what
``Trial.report`` / ``Trial.should_prune`` do.
"""

from __future__ import annotations

from typing import Any

import optuna

from kanlab.search._optuna_private import study_storage, trial_id

__all__ = ["TrialJudge"]


class TrialJudge:
    """``judge(epoch, value) -> prune?`` for one running trial (picklable)."""

    def __init__(self, trial: optuna.Trial, *, url: str, prune: bool = True) -> None:
        self._trial: optuna.Trial | None = trial
        self._url = url
        self._study_name = trial.study.study_name
        self._trial_id = trial_id(trial)
        self._pruner = trial.study.pruner if prune else None
        self._study: optuna.Study | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_trial"] = None  # the worker's trial (its storage's connections) stays there
        state["_study"] = None
        return state

    def __call__(self, epoch: int, value: float) -> bool:
        if self._trial is not None:
            self._trial.report(value, epoch)
            return self._pruner is not None and self._trial.should_prune()
        study = self._reopened()
        storage = study_storage(study)
        storage.set_trial_intermediate_value(self._trial_id, epoch, value)
        if self._pruner is None:
            return False
        return bool(self._pruner.prune(study, storage.get_trial(self._trial_id)))

    def _reopened(self) -> optuna.Study:
        if self._study is None:
            from kanlab.search.storage import open_storage, quiet_optuna

            quiet_optuna()
            self._study = optuna.load_study(study_name=self._study_name,
                                            storage=open_storage(self._url, create_dirs=False),
                                            pruner=self._pruner)
        return self._study
