"""kanlab.layers.kan: the KAN layers (kanlab.catalog lists them); imports every public module."""

from __future__ import annotations

import sys

from kanlab._imports import import_submodules

__all__ = import_submodules(sys.modules[__name__])
