"""kanlab.layers.sparse: the top-k family (kanlab.catalog lists it); imports each module."""

from __future__ import annotations

import sys

from kanlab._imports import import_submodules

__all__ = import_submodules(sys.modules[__name__])
