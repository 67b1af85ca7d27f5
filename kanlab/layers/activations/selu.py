"""SELU activation."""

from __future__ import annotations

import sympy
import torch
from torch.nn import functional as F

from kanlab.layers.activations._base import Activation, X, const, positive_part
from kanlab.registry import ACTIVATIONS

__all__ = ["SELU"]

ALPHA = 1.6732632423543772848170429916717
SCALE = 1.0507009873554804934193349852946


@ACTIVATIONS.register("selu", elementwise=True)
class SELU(Activation):
    """Scaled ELU with the fixed constants that make networks self-normalising.

    Klambauer et al., "Self-Normalizing Neural Networks", arXiv:1706.02515.

        selu(x) = scale * x                       if x > 0
                  scale * alpha * (exp(x) - 1)    otherwise

    with alpha ~ 1.6733 and scale ~ 1.0507 (the paper's constants, :data:`ALPHA`,
    :data:`SCALE`). Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.nn.functional.selu``).

    Args:
        inplace: Overwrite the input (honoured).

    Raises:
        ValueError: if ``inplace`` is not a bool.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.selu(x, inplace=self.inplace)

    def sympy(self) -> sympy.Expr:
        return const(SCALE) * positive_part(const(ALPHA) * (sympy.exp(X) - 1))
