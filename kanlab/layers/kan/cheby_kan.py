"""Chebyshev KAN linear layer: edge functions are Chebyshev polynomial series of tanh(x)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from kanlab.checks import check_at_least, check_in_features
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.registry import LAYERS

__all__ = ["ChebyKANLinear", "chebyshev_basis"]


def chebyshev_basis(t: Tensor, degree: int) -> Tensor:
    """``T_0(t) .. T_d(t)`` by ``T_{n+1} = 2 t T_n - T_{n-1}``: ``(*) -> (*, d+1)``."""
    polys = [torch.ones_like(t), t]
    for _ in range(2, degree + 1):
        polys.append(2 * t * polys[-1] - polys[-2])
    return torch.stack(polys[: degree + 1], dim=-1)                      # (*, d+1)


@LAYERS.register("cheby_kan", kind="linear")
class ChebyKANLinear(KANLinearBase):
    """KAN layer whose edge functions are Chebyshev series of the squashed input.

    SS et al., "Chebyshev Polynomial-Based Kolmogorov-Arnold Networks", arXiv:2405.07200
    (SynodicMonth/ChebyKAN).

        y_o = sum_i sum_{n=0..d} C[o, i, n] * T_n(tanh(x_i))

    with d = ``grid_size`` (the polynomial degree; d + 1 basis functions per input, the
    "grid size" analogue of this family) and C = ``weight``.

    Shapes: (*, in_features) -> (*, out_features); ``basis(x)``: (B, in_features, d + 1).

    Deviations from ChebyKAN (``ChebyKANLayer.py``): T_n is computed by the three-term
    recurrence instead of ``cos(n * acos(t))`` (same values, finite gradients at |t| -> 1);
    the weight is stored as ``(O, D, d + 1)`` and applied as one matmul over the flattened
    basis instead of an einsum; optional bias. Plain autograd throughout: differentiable to any
    order (``create_graph=True``) and usable under ``torch.func`` transforms.

    Args:
        in_features: Input width D.
        out_features: Output width O.
        grid_size: Polynomial degree d (>= 1).
        bias: Learn an output bias.
        chunk_size: Rows processed at once; ``None`` = automatic (256 MiB of basis).
        device: Factory kwarg for parameters.
        dtype: Factory kwarg for parameters.

    Raises:
        ValueError: for ``grid_size < 1``, ``chunk_size < 1``, or (in ``forward``) a wrong
            input last dim.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 4,
        bias: bool = False,
        chunk_size: int | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_at_least("grid_size", grid_size, 1)
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.grid_size = grid_size
        self.num_bases = grid_size + 1
        self.weight = nn.Parameter(
            torch.empty(out_features, in_features, self.num_bases, **dd)
        )
        self.bias = nn.Parameter(torch.empty(out_features, **dd)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ChebyKAN init: C ~ N(0, 1 / (D (d + 1))); zero bias."""
        std = 1.0 / math.sqrt(self.in_features * self.num_bases)
        nn.init.normal_(self.weight, std=std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def basis(self, x: Tensor) -> Tensor:
        """``T_n(tanh(x_i))``: ``(B, in_features, d + 1)`` for inputs ``(*, in_features)``."""
        check_in_features(x, self.in_features)
        return chebyshev_basis(torch.tanh(x.reshape(-1, self.in_features)), self.grid_size)

    def forward_rows(self, x: Tensor) -> Tensor:
        """The layer on a ``(n, in_features)`` block -> ``(n, out_features)``."""
        weight = self.weight.reshape(self.out_features, -1)             # (O, D*(d+1))
        feats = chebyshev_basis(torch.tanh(x), self.grid_size)          # (n, D, d+1)
        return F.linear(feats.reshape(x.shape[0], -1), weight, self.bias)  # (n, O)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, grid_size={self.grid_size}"
