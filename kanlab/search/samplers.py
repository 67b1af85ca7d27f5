"""Optuna samplers by name (registry ``samplers``): ``sampler: {name: tpe, seed: 0}``.

The entries are Optuna's own classes, declared in :mod:`kanlab.catalog`; a study YAML names
one and its options are checked against the class signature. ``grid`` receives its
``search_space`` from the study's space (every parameter must then be categorical, or numeric
with a ``step``).
"""

from __future__ import annotations

from kanlab.registry import SAMPLERS

__all__ = ["EXTRAS", "SAMPLERS", "check_packages"]

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
