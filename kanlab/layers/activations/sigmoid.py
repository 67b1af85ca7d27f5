"""Logistic sigmoid activation."""

from __future__ import annotations

from typing import cast

import sympy
import torch

from kanlab.layers.activations._base import Activation, ClosedForm, X
from kanlab.registry import ACTIVATIONS

__all__ = ["Sigmoid"]


def _sigmoid_backward(grad: torch.Tensor, u: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return cast(torch.Tensor, torch.ops.aten.sigmoid_backward(grad, value))


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

    def closed_form(self) -> ClosedForm:
        return ClosedForm("sigmoid", torch.sigmoid, _sigmoid_backward)

    def sympy(self) -> sympy.Expr:
        return 1 / (1 + sympy.exp(-X))
