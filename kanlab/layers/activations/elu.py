"""ELU activation."""

from __future__ import annotations

import sympy
import torch
from torch.nn import functional as F

from kanlab.layers.activations._base import Activation, X, check_finite, const, positive_part
from kanlab.registry import ACTIVATIONS

__all__ = ["ELU"]


@ACTIVATIONS.register("elu", elementwise=True)
class ELU(Activation):
    """Exponential linear unit: identity for x > 0, a saturating exponential below.

    Clevert et al., "Fast and Accurate Deep Network Learning by Exponential Linear Units
    (ELUs)", arXiv:1511.07289.

        elu(x) = x                       if x > 0
                 alpha * (exp(x) - 1)    otherwise

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.nn.functional.elu``).

    Args:
        alpha: Negative saturation value -alpha (finite; 1.0 as in the paper).
        inplace: Overwrite the input (honoured).

    Raises:
        ValueError: if ``alpha`` is not finite or ``inplace`` not a bool.
    """

    def __init__(self, *, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace=inplace)
        check_finite("alpha", alpha)
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x, self.alpha, inplace=self.inplace)

    def sympy(self) -> sympy.Expr:
        return positive_part(const(self.alpha) * (sympy.exp(X) - 1))

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"alpha={self.alpha}", super().extra_repr()]))
