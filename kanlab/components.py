"""Kept for code that imports it to fill the registries; nothing to do any more.

Registries fill themselves at their first lookup (:class:`kanlab.registry.Registry`): layers,
activations, models, optimisers and schedulers by importing their modules (torch and sympy
only); data modules and training callbacks, which are Lightning classes, from their source
(lazy entries, :mod:`kanlab._lazy`), so their names, metadata and constructor signatures are
known while Lightning loads only when one is built.
"""

from __future__ import annotations

__all__: list[str] = []
