"""PReLU activation (learnable negative slope)."""

from __future__ import annotations

import sympy
import torch
from torch import nn
from torch.nn import functional as F

from kanlab.checks import check_at_least
from kanlab.layers.activations._base import Activation, X, check_finite, const, positive_part
from kanlab.registry import ACTIVATIONS

__all__ = ["PReLU"]


@ACTIVATIONS.register("prelu", elementwise=True)
class PReLU(Activation):
    """Parametric ReLU: a leaky ReLU whose negative slope is learnt.

    He et al., "Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet
    Classification", arXiv:1502.01852.

        prelu(x) = x           if x > 0
                   weight * x  otherwise

    ``weight`` has ``num_parameters`` entries: one shared slope (1) or one per channel, the
    channel being dim 1 of the input (torch's convention). Shapes: (*) -> (*).

    Deviations: none (a wrapper of ``torch.nn.functional.prelu``; the parameter is named
    ``weight`` as in ``torch.nn.PReLU``, so state dicts are interchangeable). Like the paper's
    slopes, ``weight`` should not decay: ``no_weight_decay()`` returns ``{"weight"}``.

    Args:
        num_parameters: Number of slopes (1 or the channel count).
        init: Initial slope (finite; 0.25 as in the paper).
        inplace: Accepted for timm's ``act_layer`` and ignored (torch's PReLU has none).
        device: Factory kwarg for ``weight``.
        dtype: Factory kwarg for ``weight``.

    Raises:
        ValueError: if ``num_parameters < 1``, ``init`` is not finite or ``inplace`` is not a
            bool.
    """

    def __init__(
        self,
        *,
        num_parameters: int = 1,
        init: float = 0.25,
        inplace: bool = False,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(inplace=inplace)
        check_at_least("num_parameters", num_parameters, 1)
        check_finite("init", init)
        self.num_parameters = int(num_parameters)
        self.init = float(init)
        self.weight = nn.Parameter(torch.empty(self.num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, self.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, self.weight)

    def sympy(self) -> sympy.Expr:
        """The formula with the current slope; only for ``num_parameters=1``.

        Raises:
            ValueError: if there is one slope per channel (no single elementwise formula).
        """
        if self.num_parameters != 1:
            raise ValueError(
                "`num_parameters` must be 1 for a single sympy formula, "
                f"but got num_parameters={self.num_parameters}."
            )
        return positive_part(const(self.weight[0]) * X)

    def no_weight_decay(self) -> set[str]:
        """Slopes are exempt from weight decay."""
        return {"weight"}

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"num_parameters={self.num_parameters}",
                                       f"init={self.init}", super().extra_repr()]))
