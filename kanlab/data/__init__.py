"""kanlab.data (Lightning side): data modules (kanlab.catalog lists them); imports each module."""

from __future__ import annotations

import sys

from kanlab._imports import import_submodules

__all__ = import_submodules(sys.modules[__name__])
