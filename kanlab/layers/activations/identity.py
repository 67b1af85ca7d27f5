"""Identity activation (no nonlinearity)."""

from __future__ import annotations

import sympy
import torch

from kanlab.layers.activations._base import Activation, X
from kanlab.registry import ACTIVATIONS

__all__ = ["Identity"]


@ACTIVATIONS.register("identity", elementwise=True)
class Identity(Activation):
    """The identity map, for linear baselines and ablations.

        identity(x) = x

    Shapes: (*) -> (*), elementwise.

    Deviations: none (no paper; equivalent to ``torch.nn.Identity``).

    Args:
        inplace: Accepted for timm's ``act_layer`` and meaningless here (the input is returned).

    Raises:
        ValueError: if ``inplace`` is not a bool.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def sympy(self) -> sympy.Expr:
        return X
