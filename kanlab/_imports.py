"""Import helpers: fill registries by importing every public module of a package."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["import_submodules"]


def import_submodules(package: ModuleType) -> list[str]:
    """Import each non-underscore module/subpackage of ``package`` (registration at import).

    Returns the imported module names, sorted, so ``__init__`` files can expose them.
    """
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    )
    for name in names:
        importlib.import_module(f"{package.__name__}.{name}")
    return names
