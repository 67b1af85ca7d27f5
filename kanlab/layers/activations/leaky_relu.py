"""Leaky ReLU activation."""

from __future__ import annotations

import sympy
import torch
from torch.nn import functional as F

from kanlab.layers.activations._base import Activation, X, check_finite, const, positive_part
from kanlab.registry import ACTIVATIONS

__all__ = ["LeakyReLU"]


@ACTIVATIONS.register("leaky_relu", elementwise=True)
class LeakyReLU(Activation):
    """ReLU with a small fixed slope for negative inputs.

    Maas et al., "Rectifier Nonlinearities Improve Neural Network Acoustic Models", ICML 2013
    workshop (no arXiv id).

        leaky_relu(x) = x                   if x > 0
                        negative_slope * x  otherwise

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.nn.functional.leaky_relu``).

    Args:
        negative_slope: Slope for x <= 0 (any finite number; torch's default 0.01).
        inplace: Overwrite the input (honoured).

    Raises:
        ValueError: if ``negative_slope`` is not finite or ``inplace`` not a bool.
    """

    def __init__(self, *, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(inplace=inplace)
        check_finite("negative_slope", negative_slope)
        self.negative_slope = float(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.negative_slope, inplace=self.inplace)

    def sympy(self) -> sympy.Expr:
        return positive_part(const(self.negative_slope) * X)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"negative_slope={self.negative_slope}",
                                       super().extra_repr()]))
