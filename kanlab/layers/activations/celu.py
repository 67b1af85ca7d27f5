"""CELU activation."""

from __future__ import annotations

import sympy
import torch
from torch.nn import functional as F

from kanlab.checks import check_positive
from kanlab.layers.activations._base import Activation, X, const, positive_part
from kanlab.registry import ACTIVATIONS

__all__ = ["CELU"]


@ACTIVATIONS.register("celu", elementwise=True)
class CELU(Activation):
    """Continuously differentiable ELU: the ELU whose derivative is continuous for any alpha.

    Barron, "Continuously Differentiable Exponential Linear Units", arXiv:1704.07483.

        celu(x) = x                              if x > 0
                  alpha * (exp(x / alpha) - 1)   otherwise

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.nn.functional.celu``).

    Args:
        alpha: Negative saturation value -alpha and scale of the exponential (> 0).
        inplace: Overwrite the input (honoured).

    Raises:
        ValueError: if ``alpha <= 0`` or ``inplace`` is not a bool.
    """

    def __init__(self, *, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace=inplace)
        check_positive("alpha", alpha)
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.celu(x, self.alpha, inplace=self.inplace)

    def sympy(self) -> sympy.Expr:
        alpha = const(self.alpha)
        return positive_part(alpha * (sympy.exp(X / alpha) - 1))

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"alpha={self.alpha}", super().extra_repr()]))
