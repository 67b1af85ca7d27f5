"""FastKAN linear layer: Gaussian radial basis functions instead of B-splines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from kanlab.checks import check_at_least, check_in_features, check_range
from kanlab.layers.kan import _fused
from kanlab.layers.kan._fused._weight import basis_major_empty
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.registry import ACTIVATIONS, LAYERS, ActivationSpec

__all__ = ["FastKANLinear"]


@LAYERS.register("fast_kan", kind="linear")
class FastKANLinear(KANLinearBase):
    """KAN layer whose per-input basis is a row of Gaussian bumps (RBF), plus a base branch.

    Li, "Kolmogorov-Arnold Networks are Radial Basis Function Networks", arXiv:2405.06721
    (ZiyaoLi/fast-kan).

        phi_m(z) = exp(-((z - u_m) / h)^2)
        u = linspace(low, high, G),  h = (high - low) / (G - 1)
        z = LayerNorm(x) if ``use_layernorm`` else x
        y_o = sum_{i, m} W_s[o, i, m] * phi_m(z_i)  +  sum_i W_b[o, i] * b(x_i) + c_o

    with G = ``grid_size`` (number of centres; for G = 1, h = high - low), (low, high) =
    ``grid_range``, b = ``base_activation`` applied to the raw x, W_s = ``spline_weight``,
    W_b, c = ``base_weight``, ``base_bias``.

    Shapes: (*, in_features) -> (*, out_features); ``basis(x)``: (B, in_features, G);
    ``spline_weight``: (out_features, in_features, G).

    Deviations from fast-kan (``fastkan/fastkan.py``): the base branch is any registered
    activation (``None`` removes it, like ``use_base_update=False``); the centres are a buffer
    rather than a frozen parameter (same values, not counted as parameters); ``spline_weight``
    is indexed ``(O, D, G)`` (fast-kan's ``spline_linear.weight`` holds the same values
    flattened to ``(O, D*G)``; state dicts holding it flat, kanlab's own from before this
    layout included, load unchanged) and stored basis-major (the strides of an ``(O, G, D)``
    tensor), so the fused matmul's weight is filled, and its gradient written, without a
    permuted copy. A LayerNorm over a single input is constant; fast-kan#7 — pass
    ``use_layernorm=False`` for D = 1.

    :meth:`reference_rows` is the formula above in torch ops. ``forward`` computes the same
    values with the fused kernels of ``_fused/`` (both branches one matmul,
    ``[b(x) | phi(z)] @ [W_b | W_s]^T + c``, in one autograd node with an analytic backward;
    ``torch.compile`` for large calls, see ``compile_kernels``). Differentiable to any order:
    gradients taken with ``create_graph=True`` are those of the formula on autograd; under
    ``torch.func`` transforms and forward-mode AD the reference forward runs.

    Args:
        in_features: Input width D.
        out_features: Output width O.
        grid_size: Number of RBF centres G (>= 1; All-KAN passes G + K = 8).
        grid_range: ``(low, high)`` of the first and last centre.
        use_layernorm: Normalise x (LayerNorm over the inputs) before the basis.
        base_activation: Activation spec of the base branch; ``None`` drops it.
        spline_weight_init_scale: Std of the truncated-normal init of ``spline_weight``.
        chunk_size: Rows processed at once; ``None`` = automatic (256 MiB of basis).
        compile_kernels: Run the fused kernels through ``torch.compile``: ``None`` (default)
            once a call has >= 2^21 basis entries or the layer's eager calls at that input shape
            add up to a compilation's cost (``_compile.use_compiled``), ``True`` always,
            ``False`` never; falls back to eager with a warning. ``KANLAB_COMPILE=0|1`` sets
            ``None``'s choice.
        device: Factory kwarg for parameters and buffers.
        dtype: Factory kwarg for parameters and buffers.

    Raises:
        ValueError: for ``grid_size < 1``, a bad ``grid_range``, an unknown
            ``base_activation``, ``chunk_size < 1``, or (in ``forward``) a wrong input last dim.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 8,
        grid_range: Sequence[float] = (-2.0, 2.0),
        use_layernorm: bool = True,
        base_activation: ActivationSpec | None = "silu",
        spline_weight_init_scale: float = 0.1,
        chunk_size: int | None = None,
        compile_kernels: bool | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_at_least("grid_size", grid_size, 1)
        low, high = check_range("grid_range", grid_range)
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.grid_size, self.grid_range = grid_size, (low, high)
        self.num_bases = grid_size
        self.init_scale = spline_weight_init_scale
        self.inv_width = (grid_size - 1) / (high - low) if grid_size > 1 else 1 / (high - low)
        self.register_buffer("centers", torch.empty(grid_size, **dd))      # (G,)
        self.norm = nn.LayerNorm(in_features, **dd) if use_layernorm else None
        self.spline_weight = nn.Parameter(  # (O, D, G), stored basis-major (O, G, D)
            basis_major_empty(out_features, in_features, grid_size, **dd)
        )
        self.base_activation = (
            None if base_activation is None else ACTIVATIONS.build(base_activation)
        )
        if self.base_activation is not None and (device is not None or dtype is not None):
            self.base_activation.to(device=device, dtype=dtype)  # its own parameters, if any
        self.base = (
            nn.Linear(in_features, out_features, **dd) if base_activation is not None else None
        )
        self.compile_kernels = compile_kernels
        self.reset_parameters()

    centers: Tensor

    def reset_parameters(self) -> None:
        """Centres on ``grid_range``; truncated-normal spline weights (std
        ``spline_weight_init_scale``); default LayerNorm and base Linear."""
        low, high = self.grid_range
        with torch.no_grad():
            self.centers.copy_(torch.linspace(low, high, self.grid_size, dtype=torch.float64))
        flat = self.spline_weight.new_empty(self.out_features, self.in_features * self.grid_size)
        nn.init.trunc_normal_(flat, std=self.init_scale)  # drawn in (O, D*G) order, as fast-kan
        with torch.no_grad():
            self.spline_weight.copy_(flat.view_as(self.spline_weight))
        if self.norm is not None:
            self.norm.reset_parameters()
        if self.base is not None:
            self.base.reset_parameters()

    def basis(self, x: Tensor) -> Tensor:
        """Gaussian bumps ``(B, in_features, G)`` of (normalised) inputs ``(*, in_features)``."""
        check_in_features(x, self.in_features)
        return self._rbf(x.reshape(-1, self.in_features))                # (B, D, G)

    def _rbf(self, x: Tensor) -> Tensor:
        z = self.norm(x) if self.norm is not None else x                 # (B, D)
        dist = (z.unsqueeze(-1) - self.centers) * self.inv_width         # (B, D, G)
        return torch.exp(-dist.square())

    def reference_rows(self, x: Tensor) -> Tensor:
        """The formula in torch ops on a ``(n, in_features)`` block -> ``(n, out_features)``."""
        phi = self._rbf(x).reshape(x.shape[0], -1)                       # (n, D*G)
        y = F.linear(phi, self.spline_weight.reshape(self.out_features, -1))  # (n, O)
        if self.base is not None and self.base_activation is not None:
            y = y + self.base(self.base_activation(x))
        return y

    def forward_rows(self, x: Tensor) -> Tensor:
        """:meth:`reference_rows` by the fused kernels (same values)."""
        return _fused.fast_kan(self, x)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, grid_size={self.grid_size}, "
            f"grid_range={self.grid_range}, use_layernorm={self.norm is not None}"
        )
