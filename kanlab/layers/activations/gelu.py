"""GELU activation."""

from __future__ import annotations

from functools import partial
from typing import Literal, cast

import sympy
import torch
from torch.nn import functional as F

from kanlab.checks import check_choice
from kanlab.layers.activations._base import Activation, ClosedForm, X
from kanlab.registry import ACTIVATIONS

__all__ = ["GELU"]

APPROXIMATIONS = ("none", "tanh")


def _gelu_backward(
    grad: torch.Tensor, u: torch.Tensor, value: torch.Tensor, *, approximate: str
) -> torch.Tensor:
    return cast(torch.Tensor, torch.ops.aten.gelu_backward(grad, u, approximate=approximate))


_FORMS = {  # one object per form, so that compiled kernels keyed by it are reused
    a: ClosedForm(
        f"gelu_{a}", partial(F.gelu, approximate=a), partial(_gelu_backward, approximate=a)
    )
    for a in APPROXIMATIONS
}


@ACTIVATIONS.register("gelu", elementwise=True)
class GELU(Activation):
    """Gaussian error linear unit: the input weighted by the standard normal CDF.

    Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)", arXiv:1606.08415.

        gelu(x) = x * Phi(x) = x / 2 * (1 + erf(x / sqrt(2)))                 approximate="none"
        gelu(x) ~ x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))     approximate="tanh"

    Shapes: (*) -> (*), elementwise.

    Deviations: none (a wrapper of ``torch.nn.functional.gelu``). Not monotone (minimum
    about -0.17 at x = -0.75), so EAFO refuses it as a base.

    Args:
        approximate: ``"none"`` (exact erf form) or ``"tanh"``.
        inplace: Accepted for timm's ``act_layer`` and ignored (torch's GELU has none).

    Raises:
        ValueError: for an unknown ``approximate`` or a non-bool ``inplace``.
    """

    def __init__(
        self, *, approximate: Literal["none", "tanh"] = "none", inplace: bool = False
    ) -> None:
        super().__init__(inplace=inplace)
        check_choice("approximate", approximate, APPROXIMATIONS)
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate=self.approximate)

    def closed_form(self) -> ClosedForm:
        return _FORMS[self.approximate]

    def sympy(self) -> sympy.Expr:
        if self.approximate == "tanh":
            inner = sympy.sqrt(2 / sympy.pi) * (X + sympy.Float(0.044715) * X**3)
            return X / 2 * (1 + sympy.tanh(inner))
        return X / 2 * (1 + sympy.erf(X / sympy.sqrt(2)))

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"approximate={self.approximate!r}",
                                       super().extra_repr()]))
