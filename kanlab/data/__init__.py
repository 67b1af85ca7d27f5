"""kanlab.data (Lightning side): every public module here registers itself on import."""

from __future__ import annotations

import sys

from kanlab._imports import import_submodules

__all__ = import_submodules(sys.modules[__name__])
