"""Group-Rational KAN (GR-KAN) linear layer of the Kolmogorov-Arnold Transformer (KAT)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from kanlab.checks import check_at_least
from kanlab.layers.kan import _fused
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.layers.kan._rational import fit_rational, rational, rational_gain
from kanlab.registry import ACTIVATIONS, LAYERS

__all__ = ["GRKANLinear"]


@LAYERS.register(
    "gr_kan", kind="linear", example_hparams={"num_groups": 2},
    mlp_fc1_hparams={"init": "identity"},
)
class GRKANLinear(KANLinearBase):
    """KAN layer whose edge functions are group-shared safe rationals, then one linear map.

    Yang & Wang, "Kolmogorov-Arnold Transformer", ICLR 2025, arXiv:2409.10594 (Adamdad/kat;
    kernels in Adamdad/rational_kat_cu).

        phi_k(x) = P(x) / Q_k(x)
        P(x)   = a_0 + a_1 x + a_2 x^2 + a_3 x^3 + a_4 x^4 + a_5 x^5
        Q_k(x) = 1 + |b_k0| |x| + |b_k1| |x|^2 + |b_k2| |x|^3 + |b_k3| |x|^4
        y_o    = sum_i W[o, i] * phi_{k(i)}(x_i) + c_o

    with orders (5, 4), input channel i in group k(i) = floor(i * g / D) (g contiguous groups),
    a = ``numerator`` ``(6,)`` shared by all groups, b = ``denominator`` ``(g, 4)`` (one row per
    group), W, c = ``weight``, ``bias``: 6 + 4g + (D + 1) O parameters. The rational is
    :func:`~kanlab.layers.kan._rational.rational`; Q >= 1, so there are no poles.

    Init: a and every row of b are the least-squares fit of the rational to the activation
    ``init`` on [-3, 3] (:func:`~kanlab.layers.kan._rational.fit_rational`; ``identity`` is
    exact, P = x, Q = 1); W ~ N(0, gain^2 / D) with KAT's variance-preserving gain
    ``1 / sqrt(E[phi(z)^2])``, z ~ N(0, 1), computed for the fitted rational; c = 0. In a
    timm MLP block (:func:`kanlab.interop.kan_mlp_layer`) the first layer starts as identity
    and the second as ``init`` (KAT's ``act_init=["identity", "gelu"]``).

    Shapes: (*, in_features) -> (*, out_features). ``rational(x)`` gives phi elementwise:
    (*, in_features) -> (*, in_features).

    Deviations from KAT: Q is the sum of absolute terms the CUDA/Triton kernels compute (the
    paper writes 1 + |sum_j b_j x^j|), and the init fit is made in that form (KAT fits the
    paper's form and evaluates the kernels' one); the gain is computed by Gauss-Hermite
    quadrature instead of 10^6 samples (GELU: 2.352 here, 2.357 in KAT's table) and applied
    in the layer's own init rather than in a model-wide ``weight_init``; ``|b|`` has derivative
    +1 at b = 0 (KAT's ``copysign``, so zero-initialised denominators train) while ``|x|`` has
    torch's 0 at x = 0 (KAT: +1; a null set). KAT needs ``D % g == 0``; here groups split
    ``D`` as evenly as possible, and ``num_groups`` is capped at ``D`` (one channel per group).
    The rational comes before the linear map inside one layer (KAT's ``act -> fc`` pair);
    any input rank (KAT's kernel takes (B, L, C) only).

    :meth:`reference_rows` is the formula in torch ops. ``forward`` computes the same values
    with the fused kernels of ``_fused/`` (rational and linear map in one autograd node whose
    backward sums the shared coefficients' gradients by reductions per group, not atomic
    adds); differentiable to any order (``create_graph=True`` gradients are those of the
    formula on autograd); under ``torch.func`` transforms, forward-mode AD, tracing and
    ``torch.onnx`` / ``torch.export`` the reference forward runs.

    Args:
        in_features: Input width D.
        out_features: Output width O.
        num_groups: Groups g of input channels sharing a denominator (KAT: 8); capped at D.
        init: Registered elementwise activation the rational starts as (``gelu``, ``silu``,
            ``identity``, ``relu``, ``tanh`` ...).
        bias: Learn the output bias c.
        chunk_size: Rows processed at once; ``None`` = automatic.
        compile_kernels: Run the fused kernels through ``torch.compile``: ``None`` (default)
            from 2^21 entries per call, ``True`` always, ``False`` never.
        device: Factory kwarg for parameters and buffers.
        dtype: Factory kwarg for parameters and buffers.

    Raises:
        ValueError: for ``num_groups < 1``, an unknown or non-elementwise ``init``,
            ``chunk_size < 1``, or (in ``forward``) a wrong input last dim.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        num_groups: int = 8,
        init: str = "gelu",
        bias: bool = True,
        chunk_size: int | None = None,
        compile_kernels: bool | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_at_least("num_groups", num_groups, 1)
        entry = ACTIVATIONS.entry(init)                                  # unknown: suggestion
        if entry.meta.get("elementwise") is not True:
            raise ValueError(
                f"`init` must be an elementwise activation, but got init={init!r}."
            )
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.init, self.num_bases = entry.name, 4
        self.num_groups = min(num_groups, in_features)
        self.register_buffer(                                            # (D,)
            "group_index", torch.empty(in_features, dtype=torch.long, device=device),
            persistent=False,
        )
        self.register_buffer(                                            # (g, D), one-hot
            "member", torch.empty(self.num_groups, in_features, **dd), persistent=False
        )
        self.numerator = nn.Parameter(torch.empty(6, **dd))
        self.denominator = nn.Parameter(torch.empty(self.num_groups, 4, **dd))
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **dd))
        self.bias = nn.Parameter(torch.empty(out_features, **dd)) if bias else None
        self.compile_kernels = compile_kernels
        self.reset_parameters()

    group_index: Tensor
    member: Tensor

    def reset_parameters(self) -> None:
        """Groups; rational fitted to ``init``; W ~ N(0, gain^2 / D) for it; c = 0."""
        group = torch.arange(self.in_features, device="cpu") * self.num_groups
        group = group // self.in_features
        a, b = (torch.tensor(c, dtype=torch.float64, device="cpu")      # also under meta
                for c in fit_rational(self.init))
        with torch.no_grad():
            self.group_index.copy_(group)
            self.member.copy_(F.one_hot(group, self.num_groups).T)
            self.numerator.copy_(a)
            self.denominator.copy_(b.expand(self.num_groups, 4))        # (g, 4)
        gain = rational_gain(a, b)
        nn.init.normal_(self.weight, std=gain / self.in_features**0.5)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def rational(self, x: Tensor) -> Tensor:
        """phi applied per channel: ``(*, in_features) -> (*, in_features)``."""
        return rational(x, self.numerator, self.denominator[self.group_index])

    def reference_rows(self, x: Tensor) -> Tensor:
        """The formula in torch ops on a ``(n, in_features)`` block -> ``(n, out_features)``."""
        return F.linear(self.rational(x), self.weight, self.bias)

    def forward_rows(self, x: Tensor) -> Tensor:
        """:meth:`reference_rows` by the fused kernels (same values)."""
        return _fused.gr_kan(self, x)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, num_groups={self.num_groups}, "
            f"init={self.init!r}, bias={self.bias is not None}"
        )
