"""Mish activation."""

from __future__ import annotations

import sympy
import torch
from torch.nn import functional as F

from kanlab.layers.activations._base import Activation, X
from kanlab.registry import ACTIVATIONS

__all__ = ["Mish"]


@ACTIVATIONS.register("mish", elementwise=True)
class Mish(Activation):
    """Mish, a smooth non-monotone self-gated activation.

    Misra, "Mish: A Self Regularized Non-Monotonic Activation Function", arXiv:1908.08681.

        mish(x) = x * tanh(softplus(x)) = x * tanh(log(1 + exp(x)))

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.nn.functional.mish``). Not monotone, so EAFO
    refuses it as a base.

    Args:
        inplace: Overwrite the input (honoured).

    Raises:
        ValueError: if ``inplace`` is not a bool.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.mish(x, inplace=self.inplace)

    def sympy(self) -> sympy.Expr:
        return X * sympy.tanh(sympy.log(1 + sympy.exp(X)))
