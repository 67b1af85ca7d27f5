"""Optuna samplers by name (registry ``samplers``): ``sampler: {name: tpe, seed: 0}``.

The entries are Optuna's own classes, declared in :mod:`kanlab.catalog`; a study YAML names
one and its options are checked against the class signature. ``grid`` receives its
``search_space`` from the study's space (every parameter must then be categorical, or numeric
with a ``step``).
"""

from __future__ import annotations

from kanlab.registry import SAMPLERS

__all__ = ["SAMPLERS"]
