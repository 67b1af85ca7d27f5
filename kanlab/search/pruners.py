"""Optuna pruners by name (registry ``pruners``): ``pruner: {name: median, n_warmup_steps: 3}``.

Pruners stop unpromising trials early from the ``val/acc`` reported after every epoch. They
apply to single-objective studies only: Optuna cannot prune multi-objective trials.
"""

from __future__ import annotations

from typing import Any

import optuna

from kanlab.registry import Registry

__all__ = ["PRUNERS"]

PRUNERS: Registry[Any] = Registry("pruner")

PRUNERS.add("median", optuna.pruners.MedianPruner,
            summary="Stop when below the median of earlier trials at the same epoch.")
PRUNERS.add("percentile", optuna.pruners.PercentilePruner, example_hparams={"percentile": 25.0},
            summary="Stop when below a percentile of earlier trials at the same epoch.")
PRUNERS.add("hyperband", optuna.pruners.HyperbandPruner,
            summary="Hyperband: several successive-halving brackets.")
PRUNERS.add("successive_halving", optuna.pruners.SuccessiveHalvingPruner,
            summary="Asynchronous successive halving (keeps the top 1/eta per rung).")
PRUNERS.add("threshold", optuna.pruners.ThresholdPruner, example_hparams={"lower": 0.1},
            summary="Stop when the metric crosses fixed lower/upper bounds.")
PRUNERS.add("none", optuna.pruners.NopPruner, summary="Never prune.")
