"""CRReLU: ReLU plus a learnable entropy-derived correction."""

from __future__ import annotations

import sympy
import torch
from torch import nn
from torch.nn import functional as F

from kanlab.layers.activations import _fused
from kanlab.layers.activations._base import Activation, X, check_bool, check_finite, const
from kanlab.registry import ACTIVATIONS

__all__ = ["CRReLU", "crrelu"]


def crrelu(x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The reference expression: ``relu(x) + eps * x * exp(-x^2 / 2)`` in plain torch ops."""
    return F.relu(x) + eps * x * torch.exp(-0.5 * x.square())


def _grads(
    g: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, *, need_eps: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``g * (1[x > 0] + eps * (1 - x^2) * e)`` and ``sum(g * x * e)``, e = exp(-x^2 / 2)."""
    e = torch.exp(-0.5 * x.square())
    xe = x * e
    dx = g * ((x > 0).to(x.dtype) + eps * (e - x * xe))
    return dx, (g * xe).sum() if need_eps else None


_FORM = _fused.PointwiseForm("crrelu", crrelu, _grads)


@ACTIVATIONS.register("crrelu", elementwise=True)
class CRReLU(Activation):
    """Correction Regularized ReLU: ReLU plus eps * x * exp(-x^2 / 2) with a learnable eps.

    Sun et al., "A Method on Searching Better Activation Functions" (ICLR 2025 as
    "Entropy-based Activation Function Optimization"), arXiv:2405.12954.

        crrelu(x) = max(0, x) + eps * x * exp(-x^2 / 2)
        d/dx      = 1[x > 0] + eps * (1 - x^2) * exp(-x^2 / 2)

    ``eps`` is one learnable scalar per module (the paper's epsilon, initialised to
    ``eps=0.01``). The correction acts on all x: crrelu(0) = 0, eps = 0 is exactly ReLU, the
    negative lobe's minimum is -eps * exp(-1/2) at x = -1 and the correction vanishes as
    |x| -> inf. Shapes: (*) -> (*), elementwise.

    Relation to EAFO (kanlab's ``eafo``): with standard-normal statistics the general
    correction eps' * [p'(x) - p(x) f''(x) / f'(x)] for f = ReLU is -eps' * x * phi(x), so
    crrelu(eps) == eafo(relu, eps' = -sqrt(2 pi) * eps). By the entropy criterion of the paper,
    positive eps raises the output entropy to first order (it is EAFO's entropy-raising
    direction); eps is learnt, so its sign is too.

    Speed: forward and backward are one fused elementwise pass each (an ``autograd.Function``
    with the closed-form derivative above that saves only x; ``torch.compile``-d for large
    inputs, see :mod:`kanlab.layers.activations._fused`), about a ReLU's cost rather than a
    chain of five ops. Gradients of any order are exact (a differentiable backward on
    ``create_graph``); ``torch.func`` transforms run the plain expression :func:`crrelu`.

    Deviations: the parameter is named ``eps`` (public ports call it ``lr``); it is exempt
    from weight decay (``no_weight_decay()`` returns ``{"eps"}``), which the paper does not
    specify. ``inplace`` is accepted for timm and ignored, because the correction needs the
    original input.

    Args:
        eps: Initial correction coefficient (any finite number, negative allowed).
        inplace: Accepted for timm's ``act_layer`` and ignored.
        compile_kernels: ``torch.compile`` the fused kernels: ``None`` (default) from 2^21
            elements on or after about one compilation's worth of eager calls at a shape
            (``KANLAB_COMPILE=0|1``: never / always), ``True`` / ``False`` always / never.
        device: Factory kwarg for ``eps``.
        dtype: Factory kwarg for ``eps``.

    Raises:
        ValueError: if ``eps`` is not finite, or ``inplace`` / ``compile_kernels`` is not a
            bool (``compile_kernels`` may also be None).
    """

    def __init__(
        self,
        *,
        eps: float = 0.01,
        inplace: bool = False,
        compile_kernels: bool | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(inplace=inplace)
        check_finite("eps", eps)
        if compile_kernels is not None:
            check_bool("compile_kernels", compile_kernels)
        self.compile_kernels = compile_kernels
        self.init_eps = float(eps)
        self.eps = nn.Parameter(torch.empty((), device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.eps, self.init_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _fused.fused_allowed():
            return crrelu(x, self.eps)
        return _fused.apply(_FORM, x, self.eps, compiled=_fused.use_compiled_for(self, x))

    def sympy(self) -> sympy.Expr:
        return sympy.Max(0, X) + const(self.eps) * X * sympy.exp(-(X**2) / 2)

    def no_weight_decay(self) -> set[str]:
        """``eps`` is exempt from weight decay."""
        return {"eps"}

    def extra_repr(self) -> str:
        eps = self.init_eps if self.eps.is_meta else float(self.eps.detach().cpu())
        return f"eps={eps:.4g}"
