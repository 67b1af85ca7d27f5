"""ReLU activation."""

from __future__ import annotations

import sympy
import torch
from torch.nn import functional as F

from kanlab.layers.activations._base import Activation, X
from kanlab.registry import ACTIVATIONS

__all__ = ["ReLU"]


@ACTIVATIONS.register("relu", elementwise=True)
class ReLU(Activation):
    """Rectified linear unit, the plain max(0, x).

    Nair & Hinton, "Rectified Linear Units Improve Restricted Boltzmann Machines", ICML 2010
    (no arXiv id).

        relu(x) = max(0, x)

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.nn.functional.relu``).

    Args:
        inplace: Overwrite the input (honoured).

    Raises:
        ValueError: if ``inplace`` is not a bool.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x, inplace=self.inplace)

    def sympy(self) -> sympy.Expr:
        return sympy.Max(0, X)
