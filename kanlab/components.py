"""Import everything that registers components, so every registry is full.

``import kanlab`` fills layers, activations, models, optimisers and schedulers (torch and sympy
only). This module adds the Lightning-side registries — data modules and training callbacks —
and is what config loading and the CLI import.
"""

from __future__ import annotations

import kanlab  # noqa: F401  (layers, activations, models, optimizers, schedulers)
from kanlab import data as _data  # noqa: F401  (DATAMODULES)
from kanlab import lit as _lit  # noqa: F401  (CALLBACKS)

__all__: list[str] = []
