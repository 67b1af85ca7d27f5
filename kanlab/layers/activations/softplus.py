"""Softplus activation."""

from __future__ import annotations

import sympy
import torch
from torch.nn import functional as F

from kanlab.checks import check_positive
from kanlab.layers.activations._base import Activation, X, const
from kanlab.registry import ACTIVATIONS

__all__ = ["Softplus"]


@ACTIVATIONS.register("softplus", elementwise=True)
class Softplus(Activation):
    """Softplus, a smooth strictly increasing approximation of ReLU.

    Dugas et al., "Incorporating Second-Order Functional Knowledge for Better Option Pricing",
    NeurIPS 2000 (no arXiv id).

        softplus(x) = log(1 + exp(beta * x)) / beta

    Shapes: (*) -> (*), elementwise.

    Deviations: none in value. torch switches to the identity where ``beta * x > threshold``
    for numerical stability (error < exp(-threshold)); ``sympy()`` is the exact formula
    without that switch.

    Args:
        beta: Sharpness (> 0); larger is closer to ReLU.
        threshold: Where the forward switches to the identity (> 0).
        inplace: Accepted for timm's ``act_layer`` and ignored (torch's Softplus has none).

    Raises:
        ValueError: if ``beta <= 0``, ``threshold <= 0`` or ``inplace`` is not a bool.
    """

    def __init__(
        self, *, beta: float = 1.0, threshold: float = 20.0, inplace: bool = False
    ) -> None:
        super().__init__(inplace=inplace)
        check_positive("beta", beta)
        check_positive("threshold", threshold)
        self.beta = float(beta)
        self.threshold = float(threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x, beta=self.beta, threshold=self.threshold)

    def sympy(self) -> sympy.Expr:
        beta = const(self.beta)
        return sympy.log(1 + sympy.exp(beta * X)) / beta

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"beta={self.beta}", f"threshold={self.threshold}",
                                       super().extra_repr()]))
