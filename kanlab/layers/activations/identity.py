"""Identity activation (no nonlinearity)."""

from __future__ import annotations

import sympy
import torch

from kanlab.layers.activations._base import Activation, ClosedForm, X
from kanlab.registry import ACTIVATIONS

__all__ = ["Identity"]


def _identity(u: torch.Tensor) -> torch.Tensor:
    return u


def _identity_backward(grad: torch.Tensor, u: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return grad


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

    def closed_form(self) -> ClosedForm:
        return ClosedForm("identity", _identity, _identity_backward)

    def sympy(self) -> sympy.Expr:
        return X
