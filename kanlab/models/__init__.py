"""Models (plain ``torch.nn.Module``s built from layer/activation specs); see kanlab.catalog."""

from __future__ import annotations

import sys

from kanlab._imports import import_submodules

__all__ = import_submodules(sys.modules[__name__])
