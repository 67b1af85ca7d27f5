"""Shared machinery of kanlab's activations: the ``inplace`` contract and the sympy form.

Every activation takes ``(*, inplace: bool = False, ...)`` so it can be passed to timm's
``act_layer=`` (timm's ResNet calls ``act_layer(inplace=True)``). Elementwise activations
also expose ``sympy()``: their formula in the symbol :data:`X` with the current parameter
values, used by ``kanlab info``, the symbolic tools and the EAFO derivation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy
import torch
from torch import nn

__all__ = [
    "X",
    "Activation",
    "ClosedForm",
    "check_bool",
    "check_finite",
    "const",
    "positive_part",
]

X = sympy.Symbol("x", real=True)
"""The variable of every activation's ``sympy()`` expression."""


def const(value: float | torch.Tensor) -> sympy.Expr:
    """A number as a sympy constant: integers stay exact (``1`` rather than ``1.0``)."""
    number = float(value.detach().cpu().item()) if isinstance(value, torch.Tensor) else value
    number = float(number)
    if number.is_integer():
        return sympy.Integer(int(number))
    return sympy.Float(number)


def positive_part(negative: sympy.Expr) -> sympy.Expr:
    """``x`` for ``x > 0`` and ``negative`` otherwise, as a sympy Piecewise."""
    return sympy.Piecewise((X, X > 0), (negative, True))


def check_bool(name: str, value: Any) -> None:
    """``value`` must be a bool (``inplace``, flags)."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool, but got {name}={value!r}.")


def check_finite(name: str, value: Any) -> None:
    """``value`` must be a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, but got {name}={value!r}.")


@dataclass(frozen=True)
class ClosedForm:
    """An activation as two plain tensor functions, for kernels that run without autograd.

    ``value(u)`` is ``f(u)`` (never in place) and ``backward(grad, u, value)`` is
    ``grad * f'(u)`` given ``value = f(u)``. Hand-written kernels (the fused KAN layers) use it
    to evaluate an activation and its derivative inside one loop; ``value`` is differentiable
    on autograd to any order, so it also serves the kernels' higher-order fallback.
    """

    name: str
    value: Callable[[torch.Tensor], torch.Tensor]
    backward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class Activation(nn.Module):
    """Base class: stores ``inplace`` and declares ``sympy()`` for elementwise activations.

    Subclasses implement ``forward`` and, when elementwise, ``sympy``. ``inplace`` is honoured
    by subclasses whose torch function supports it and ignored by the others (timm's
    convention: every activation accepts it).

    Args:
        inplace: Overwrite the input where the underlying torch op supports it.

    Raises:
        ValueError: if ``inplace`` is not a bool.
    """

    def __init__(self, *, inplace: bool = False) -> None:
        super().__init__()
        check_bool("inplace", inplace)
        self.inplace = inplace

    def closed_form(self) -> ClosedForm | None:
        """This activation with a closed-form derivative (:class:`ClosedForm`), or None.

        Declared by the activations whose derivative is a known elementwise formula (SiLU,
        ReLU, GELU, sigmoid, tanh, identity); the default None means "autograd only".
        """
        return None

    def sympy(self) -> sympy.Expr:
        """The activation as a sympy expression in :data:`X` with current parameter values."""
        raise NotImplementedError(f"{type(self).__name__} has no sympy form.")

    def formula_latex(self) -> str:
        """LaTeX of :meth:`sympy`."""
        return str(sympy.latex(self.sympy()))

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""
