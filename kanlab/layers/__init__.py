"""Layers and activations (plain ``torch.nn.Module``s), declared in :mod:`kanlab.catalog`.

Subpackages: ``kan`` (KAN layers, registry ``layers``; plain ``linear``/``conv2d`` live in
``linear``), ``activations`` (elementwise and
entropy-derived activations, registry ``activations``) and ``sparse`` (top-k family). This
package imports torch and sympy only.
"""

from __future__ import annotations

from kanlab.layers import activations, kan, linear, sparse

__all__ = ["activations", "kan", "linear", "sparse"]
