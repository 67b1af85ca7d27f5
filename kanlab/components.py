"""Fill every registry without importing Lightning.

``import kanlab`` fills layers, activations, models, optimisers and schedulers (torch and sympy
only). Data modules (``kanlab.data``) and training callbacks (``kanlab.lit``) are Lightning
classes: this module registers them *lazily*, from their ``@REGISTRY.register`` decorators read
in the source (:mod:`kanlab._lazy`), so their names, metadata and constructor signatures are
known (config validation, ``kanlab list``) while Lightning loads only when one is built.
Config loading and the CLI import this module.
"""

from __future__ import annotations

import kanlab  # noqa: F401  (layers, activations, models, optimizers, schedulers)
from kanlab._lazy import register_lazily
from kanlab.registry import CALLBACKS, DATAMODULES

__all__: list[str] = []

register_lazily(DATAMODULES, "DATAMODULES", "kanlab.data")
register_lazily(CALLBACKS, "CALLBACKS", "kanlab.lit")
