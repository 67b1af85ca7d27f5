"""Layers and activations (plain ``torch.nn.Module``s), declared in :mod:`kanlab.catalog`.

Subpackages: ``kan`` (KAN layers, registry ``layers``), ``activations`` (elementwise and
entropy-derived activations, registry ``activations``) and ``sparse`` (top-k family); the plain
``linear`` and ``conv2d`` layers are modules of their own. This package imports torch and
sympy, and numpy for one lookup (the Gauss-Hermite nodes of ``rational_gain``, GR-KAN's
variance-preserving gain, ``numpy.polynomial.hermite_e.hermegauss``).
"""

from __future__ import annotations

from kanlab.layers import activations, conv2d, kan, linear, sparse

__all__ = ["activations", "conv2d", "kan", "linear", "sparse"]
