"""SiLU (Swish-1) activation."""

from __future__ import annotations

from typing import cast

import sympy
import torch
from torch.nn import functional as F

from kanlab.layers.activations._base import Activation, ClosedForm, X
from kanlab.registry import ACTIVATIONS

__all__ = ["SiLU"]


def _silu_backward(grad: torch.Tensor, u: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return cast(torch.Tensor, torch.ops.aten.silu_backward(grad, u))


@ACTIVATIONS.register("silu", elementwise=True)
class SiLU(Activation):
    """Sigmoid-weighted linear unit (Swish with beta = 1).

    Elfwing et al., "Sigmoid-Weighted Linear Units for Neural Network Function Approximation in
    Reinforcement Learning", arXiv:1702.03118; Ramachandran et al., "Searching for Activation
    Functions", arXiv:1710.05941.

        silu(x) = x * sigmoid(x) = x / (1 + exp(-x))

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.nn.functional.silu``). Not monotone: its minimum is
    about -0.278 at x = -1.278, so EAFO refuses it as a base.

    Args:
        inplace: Overwrite the input (honoured).

    Raises:
        ValueError: if ``inplace`` is not a bool.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x, inplace=self.inplace)

    def closed_form(self) -> ClosedForm:
        return ClosedForm("silu", F.silu, _silu_backward)

    def sympy(self) -> sympy.Expr:
        return X / (1 + sympy.exp(-X))
