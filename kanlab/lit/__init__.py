"""kanlab.lit (Lightning side): training systems, callbacks and the ``train`` API.

The names below load on first use (PEP 562), so importing a light module of this package
(``kanlab.lit.cli``: ``kanlab train --help`` and config errors answer in well under a second)
does not import Lightning and torchmetrics. Callbacks register on import of their module;
:mod:`kanlab.catalog` declares them, so no registry needs this package imported.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kanlab.lit.classifier import ImageClassifier as ImageClassifier
    from kanlab.lit.regressor import FunctionRegressor as FunctionRegressor
    from kanlab.lit.train import RunResult as RunResult
    from kanlab.lit.train import build_datamodule as build_datamodule
    from kanlab.lit.train import build_model as build_model
    from kanlab.lit.train import load_run as load_run
    from kanlab.lit.train import train as train

_WHERE = {
    "FunctionRegressor": "kanlab.lit.regressor",
    "ImageClassifier": "kanlab.lit.classifier",
    "RunResult": "kanlab.lit.train",
    "build_datamodule": "kanlab.lit.train",
    "build_model": "kanlab.lit.train",
    "load_run": "kanlab.lit.train",
    "train": "kanlab.lit.train",
}

__all__ = [
    "FunctionRegressor",
    "ImageClassifier",
    "RunResult",
    "build_datamodule",
    "build_model",
    "load_run",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kanlab.lit' has no attribute {name!r}")


class _Package(types.ModuleType):
    """``kanlab.lit.train`` is the function, as when this package imported it eagerly: the
    import system's ``setattr(kanlab.lit, "train", <module>)`` after loading the submodule
    stores the module's ``train`` instead."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "train" and isinstance(value, types.ModuleType) and hasattr(value, "train"):
            value = value.train
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
