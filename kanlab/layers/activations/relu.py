"""ReLU activation."""

from __future__ import annotations

from typing import cast

import sympy
import torch
from torch.nn import functional as F

from kanlab.layers.activations._base import Activation, ClosedForm, X
from kanlab.registry import ACTIVATIONS

__all__ = ["ReLU"]


def _relu_backward(grad: torch.Tensor, u: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return cast(torch.Tensor, torch.ops.aten.threshold_backward(grad, u, 0))


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

    def closed_form(self) -> ClosedForm:
        return ClosedForm("relu", F.relu, _relu_backward)

    def sympy(self) -> sympy.Expr:
        return sympy.Max(0, X)
