"""Hyperbolic tangent activation."""

from __future__ import annotations

from typing import cast

import sympy
import torch

from kanlab.layers.activations._base import Activation, ClosedForm, X
from kanlab.registry import ACTIVATIONS

__all__ = ["Tanh"]


def _tanh_backward(grad: torch.Tensor, u: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return cast(torch.Tensor, torch.ops.aten.tanh_backward(grad, value))


@ACTIVATIONS.register("tanh", elementwise=True)
class Tanh(Activation):
    """Hyperbolic tangent, a bounded squashing function onto (-1, 1).

        tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.tanh``).

    Args:
        inplace: Accepted for timm's ``act_layer`` and ignored (``torch.nn.Tanh`` has none).

    Raises:
        ValueError: if ``inplace`` is not a bool.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)

    def closed_form(self) -> ClosedForm:
        return ClosedForm("tanh", torch.tanh, _tanh_backward)

    def sympy(self) -> sympy.Expr:
        return sympy.tanh(X)
