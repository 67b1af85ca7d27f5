"""Every registry, filled: importing this module is what config loading and the CLI rely on.

Registries fill themselves at their first lookup (:class:`kanlab.registry.Registry`): layers,
activations, models, optimisers and schedulers by importing their modules (torch and sympy
only); data modules and training callbacks, which are Lightning classes, from their source
(lazy entries, :mod:`kanlab._lazy`), so their names, metadata and constructor signatures are
known while Lightning loads only when one is built.
"""

from __future__ import annotations

import kanlab  # noqa: F401

__all__: list[str] = []
