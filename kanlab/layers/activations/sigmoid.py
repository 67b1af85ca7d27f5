"""Logistic sigmoid activation."""

from __future__ import annotations

import sympy
import torch

from kanlab.layers.activations._base import Activation, X
from kanlab.registry import ACTIVATIONS

__all__ = ["Sigmoid"]


@ACTIVATIONS.register("sigmoid", elementwise=True)
class Sigmoid(Activation):
    """Logistic sigmoid, a bounded squashing function onto (0, 1).

        sigmoid(x) = 1 / (1 + exp(-x))

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.sigmoid``).

    Args:
        inplace: Accepted for timm's ``act_layer`` and ignored (``torch.nn.Sigmoid`` has none).

    Raises:
        ValueError: if ``inplace`` is not a bool.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)

    def sympy(self) -> sympy.Expr:
        return 1 / (1 + sympy.exp(-X))
