"""ReLU-KAN linear layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from kanlab.checks import check_at_least, check_in_features, check_range
from kanlab.layers.kan import _fused
from kanlab.layers.kan._fused._weight import basis_major_empty
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.registry import LAYERS

__all__ = ["ReLUKANLinear"]


@LAYERS.register("relu_kan", kind="linear")
class ReLUKANLinear(KANLinearBase):
    """KAN layer with squared ReLU-product bumps instead of B-splines.

    Qiu et al., "ReLU-KAN: New Kolmogorov-Arnold Networks that Only Need Matrix Addition,
    Dot Multiplication, and ReLU", arXiv:2406.02075.

        R_m(x) = [r * ReLU(x - s_m) * ReLU(e_m - x)]^2,   r = 4 / (e_m - s_m)^2 at init
        s_m = low + (m - K) * h,  e_m = s_m + (K + 1) * h,  h = (high - low) / G,
        m = 0 .. G + K - 1
        y_o = sum_{i, m} W[o, i, m] * R_m(x_i) + b_o

    with G = ``grid_size``, K = ``spline_order``, (low, high) = ``grid_range`` (the paper's
    [0, 1], so the bumps cover [-K/G, 1 + K/G]), s, e = ``phase_low``, ``phase_high`` (one row
    per input) and W = ``weight``. Each bump peaks at 1 in the middle of its support.

    Shapes: (*, in_features) -> (*, out_features); ``basis(x)``: (B, in_features, G + K);
    ``weight``: (out_features, in_features, G + K).

    Deviations from the reference code (quiqi/relu_kan, ``torch_relu_kan.py``): ``F.linear``
    replaces its full-size ``Conv2d`` (the same linear map, bias included; its raw reshape only
    permutes the weight); s and e are trainable by default, as the paper describes (the
    reference freezes them); r keeps the initial width even when s and e move, as the
    reference does; ``grid_range`` generalises the fixed [0, 1]; weights start as
    ``nn.Linear(D * (G + K), O)``'s do (kaiming-uniform) instead of the reference's
    numpy-based init; ``weight`` is indexed ``(O, D, G + K)`` (state dicts holding it flat,
    ``(O, D * (G + K))``, kanlab's own from before this layout included, load unchanged) and stored
    basis-major (the strides of an ``(O, G + K, D)`` tensor), which is the layout of the fused
    matmul's weight, so that weight is the parameter itself, with no copy.

    :meth:`reference_rows` is the formula above in torch ops. ``forward`` computes the same
    values with the fused kernels of ``_fused/`` (bumps written basis-major, one matmul, one
    autograd node with a hand-derived backward for x, s, e and W; ``torch.compile`` for large
    calls, see ``compile_kernels``). Differentiable to any order: gradients taken with
    ``create_graph=True`` are those of the formula on autograd; under ``torch.func``
    transforms and forward-mode AD the reference forward runs.

    Args:
        in_features: Input width D.
        out_features: Output width O.
        grid_size: Number of intervals G (>= 1).
        spline_order: Order K (>= 0); each bump spans K + 1 intervals.
        grid_range: ``(low, high)`` of the unextended grid.
        bias: Learn the output bias b.
        trainable_phases: Learn s and e.
        chunk_size: Rows processed at once; ``None`` = automatic (256 MiB of basis).
        compile_kernels: Run the fused kernels through ``torch.compile``: ``None`` (default)
            once a call has >= 2^21 basis entries (smaller calls stay eager: compiled, these
            few-op kernels were no faster at batch 64), ``True`` always, ``False`` never; falls
            back to eager with a warning. ``KANLAB_COMPILE=0|1`` sets ``None``'s choice.
        device: Factory kwarg for parameters.
        dtype: Factory kwarg for parameters.

    Raises:
        ValueError: for ``grid_size < 1``, ``spline_order < 0``, a bad ``grid_range``,
            ``chunk_size < 1``, or (in ``forward``) a wrong input last dim.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: Sequence[float] = (0.0, 1.0),
        bias: bool = True,
        trainable_phases: bool = True,
        chunk_size: int | None = None,
        compile_kernels: bool | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_at_least("grid_size", grid_size, 1)
        check_at_least("spline_order", spline_order, 0)
        low, high = check_range("grid_range", grid_range)
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.grid_size, self.spline_order = grid_size, spline_order
        self.grid_range = (low, high)
        self.num_bases = grid_size + spline_order
        self.step = (high - low) / grid_size
        self.scale = (2.0 / ((spline_order + 1) * self.step)) ** 2       # r = 4 / (e - s)^2
        self.phase_low = nn.Parameter(
            torch.empty(in_features, self.num_bases, **dd), requires_grad=trainable_phases
        )
        self.phase_high = nn.Parameter(
            torch.empty(in_features, self.num_bases, **dd), requires_grad=trainable_phases
        )
        self.weight = nn.Parameter(  # (O, D, M), stored basis-major (O, M, D)
            basis_major_empty(out_features, in_features, self.num_bases, **dd)
        )
        self.bias = nn.Parameter(torch.empty(out_features, **dd)) if bias else None
        self.compile_kernels = compile_kernels
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Phases on the paper's grid; W and b as ``nn.Linear``."""
        with torch.no_grad():
            k = self.spline_order
            m = torch.arange(self.num_bases, dtype=torch.float64)
            s = self.grid_range[0] + (m - k) * self.step                 # (M,)
            self.phase_low.copy_(s.expand(self.in_features, -1))         # (D, M)
            self.phase_high.copy_((s + (k + 1) * self.step).expand(self.in_features, -1))  # (D, M)
        flat = self.weight.new_empty(self.out_features, self.in_features * self.num_bases)
        nn.init.kaiming_uniform_(flat, a=math.sqrt(5))  # drawn in (O, D*M) order
        with torch.no_grad():
            self.weight.copy_(flat.view_as(self.weight))
        if self.bias is not None:
            bound = 1 / math.sqrt(flat.shape[1])
            nn.init.uniform_(self.bias, -bound, bound)

    def basis(self, x: Tensor) -> Tensor:
        """Bumps ``R_m(x_i)``: ``(B, in_features, G+K)`` for inputs ``(*, in_features)``."""
        check_in_features(x, self.in_features)
        return self._bumps(x.reshape(-1, self.in_features))              # (B, D, M)

    def _bumps(self, x: Tensor) -> Tensor:
        x = x.unsqueeze(-1)                                              # (B, D, 1)
        prod = F.relu(x - self.phase_low) * F.relu(self.phase_high - x)  # (B, D, M)
        return (prod * self.scale).square()

    def reference_rows(self, x: Tensor) -> Tensor:
        """The formula in torch ops on a ``(n, in_features)`` block -> ``(n, out_features)``."""
        bumps = self._bumps(x).reshape(x.shape[0], -1)                   # (n, D*M)
        return F.linear(bumps, self.weight.reshape(self.out_features, -1), self.bias)  # (n, O)

    def forward_rows(self, x: Tensor) -> Tensor:
        """:meth:`reference_rows` by the fused kernels (same values)."""
        return _fused.relu_kan(self, x)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, grid_size={self.grid_size}, "
            f"spline_order={self.spline_order}, grid_range={self.grid_range}, "
            f"bias={self.bias is not None}"
        )
