"""kanlab.lit (Lightning side): training systems, callbacks and the ``train`` API.

Every public module is imported here (callbacks register in ``CALLBACKS``; kanlab.catalog
lists them, so a registry needs no package import).
"""

from __future__ import annotations

import sys

from kanlab._imports import import_submodules

import_submodules(sys.modules[__name__])

from kanlab.lit.classifier import ImageClassifier as ImageClassifier  # noqa: E402
from kanlab.lit.regressor import FunctionRegressor as FunctionRegressor  # noqa: E402
from kanlab.lit.train import RunResult as RunResult  # noqa: E402
from kanlab.lit.train import build_datamodule as build_datamodule  # noqa: E402
from kanlab.lit.train import build_model as build_model  # noqa: E402
from kanlab.lit.train import load_run as load_run  # noqa: E402
from kanlab.lit.train import train as train  # noqa: E402

__all__ = [
    "FunctionRegressor",
    "ImageClassifier",
    "RunResult",
    "build_datamodule",
    "build_model",
    "load_run",
    "train",
]
