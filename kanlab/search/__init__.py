"""kanlab.search: Optuna studies over kanlab experiments (the only Optuna user besides results).

Python API::

    from kanlab.search import load_study, run_study
    study = run_study("search/kan_grid.yaml", n_trials=20, workers=2)

``kanlab search``/``worker``/``study`` are thin shells over these functions.
"""

from __future__ import annotations

from typing import Any

from kanlab.registry import Registry
from kanlab.search._space import Space, apply_values, parse_space
from kanlab.search.pruners import PRUNERS
from kanlab.search.samplers import SAMPLERS
from kanlab.search.spec import StudyPlan, StudySpec, load_study
from kanlab.search.storage import mask, open_storage
from kanlab.search.study import counts, prepare, run_study, run_worker

__all__ = [
    "EXTRA_REGISTRIES",
    "PRUNERS",
    "SAMPLERS",
    "Space",
    "StudyPlan",
    "StudySpec",
    "apply_values",
    "counts",
    "load_study",
    "mask",
    "open_storage",
    "parse_space",
    "prepare",
    "run_study",
    "run_worker",
]

# Shown by ``kanlab list samplers`` / ``kanlab list pruners``.
EXTRA_REGISTRIES: dict[str, Registry[Any]] = {"samplers": SAMPLERS, "pruners": PRUNERS}
