"""Optuna samplers by name (registry ``samplers``): ``sampler: {name: tpe, seed: 0}``.

The entries are Optuna's own classes; a study YAML names one and its options are checked
against the class signature. ``grid`` receives its ``search_space`` from the study's space
(every parameter must then be categorical, or numeric with a ``step``).
"""

from __future__ import annotations

from typing import Any

import optuna

from kanlab.registry import Registry

__all__ = ["EXTRAS", "SAMPLERS", "check_packages"]

SAMPLERS: Registry[Any] = Registry("sampler")

SAMPLERS.add("tpe", optuna.samplers.TPESampler,
             summary="Tree-structured Parzen estimator (default; handles conditional spaces).")
SAMPLERS.add("random", optuna.samplers.RandomSampler, summary="Independent uniform sampling.")
SAMPLERS.add("grid", optuna.samplers.GridSampler, wiring=("search_space",),
             summary="Every combination of the space's values (stops when exhausted).")
SAMPLERS.add("cmaes", optuna.samplers.CmaEsSampler,
             summary="CMA-ES for flat numeric spaces (falls back to random otherwise).")
SAMPLERS.add("nsga2", optuna.samplers.NSGAIISampler,
             summary="NSGA-II genetic algorithm (multi-objective).")
SAMPLERS.add("nsga3", optuna.samplers.NSGAIIISampler,
             summary="NSGA-III genetic algorithm (many objectives).")
SAMPLERS.add("gp", optuna.samplers.GPSampler,
             summary="Gaussian-process Bayesian optimisation (numeric spaces).")
SAMPLERS.add("qmc", optuna.samplers.QMCSampler,
             summary="Quasi-Monte Carlo (Sobol/Halton) space filling.")
SAMPLERS.add("brute_force", optuna.samplers.BruteForceSampler,
             summary="Enumerates a discrete (also conditional) space exhaustively.")

# Samplers whose Optuna class needs a package the base install lacks: (module, kanlab extra).
EXTRAS: dict[str, tuple[str, str]] = {"cmaes": ("cmaes", "cmaes")}


def check_packages(name: str) -> None:
    """Stop before the study starts when sampler ``name`` needs a package that is missing
    (Optuna would fail at the second trial, with a traceback per trial).

    Raises:
        SetupError: one line naming the package and the extra that installs it.
    """
    import importlib

    from kanlab.errors import SetupError

    if name not in EXTRAS:
        return
    module, extra = EXTRAS[name]
    try:
        importlib.import_module(module)
    except ImportError:
        raise SetupError(
            f"`sampler: {name}` needs the package {module!r}, which is not installed: "
            f"pip install 'kanlab[{extra}]'."
        ) from None
