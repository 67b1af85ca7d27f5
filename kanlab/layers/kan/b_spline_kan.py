"""B-spline KAN linear layer (efficient-kan semantics, closed-form uniform basis)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from kanlab.checks import check_at_least, check_in_features, check_range
from kanlab.layers.kan import _fused
from kanlab.layers.kan._bspline import cox_de_boor, extended_grid, fit_coefficients
from kanlab.layers.kan._fused._weight import basis_major_empty
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.registry import ACTIVATIONS, LAYERS, ActivationSpec

__all__ = ["BSplineKANLinear"]


@LAYERS.register("b_spline_kan", kind="linear")
class BSplineKANLinear(KANLinearBase):
    """Kolmogorov–Arnold layer with learnable B-spline edge functions and a SiLU base branch.

    Liu et al., "KAN: Kolmogorov-Arnold Networks", arXiv:2404.19756, in the efficient
    formulation of Blealtan/efficient-kan (one matmul over the flattened basis).

        y_o = sum_i  W_b[o, i] * b(x_i)  +  S[o, i] * sum_m W_s[o, i, m] * B_m(x_i)

    with b = ``base_activation``, W_b = ``base_weight``, W_s = ``spline_weight``,
    S = ``spline_scaler`` (only if ``standalone_scaler``), and B_m the M = G + K B-splines of
    order K = ``spline_order`` on G = ``grid_size`` intervals of ``grid_range``, extended by K
    knots on each side (``grid``, one knot row per input).

    Shapes: (*, in_features) -> (*, out_features); ``basis(x)``: (B, in_features, G + K).

    :meth:`reference_rows` is this formula in torch ops (Cox–de Boor basis, two matmuls).
    ``forward`` computes the same values with the fused kernels of ``_fused/`` (both branches
    as one matmul with ``[W_b | S * W_s]`` in one autograd node, closed-form uniform basis,
    ``torch.compile`` for large calls, see ``compile_kernels``). Differentiable to any order:
    plain ``backward()`` uses the kernels' analytic gradients; gradients taken with
    ``create_graph=True`` (double backward, Hessians, physics-informed losses) are those of
    the same formula on autograd, differentiable again; under ``torch.func`` transforms
    (``vmap``, ``jacrev``, ``grad``) and forward-mode AD the reference forward runs.

    Deviations from efficient-kan (``src/efficient_kan/kan.py``): the spline coefficients start
    as uniform noise of amplitude ``scale_noise / (2 G)`` instead of a least-squares fit of such
    noise at the knots (same scale, no solve at construction); ``base_activation`` is any
    registered activation spec; an optional ``bias``; inputs with a huge leading dim are
    processed in chunks; least-squares refits run in float64 on the CPU; the entropy term of
    :meth:`regularization_loss` uses ``xlogy`` so that all-zero rows give 0 instead of NaN;
    ``spline_weight`` is indexed ``(O, D, M)`` as in efficient-kan (state dicts and checkpoints
    are interchangeable) but stored basis-major (the strides of an ``(O, M, D)`` tensor), so the
    fused matmul's weight is filled without a transpose copy.

    Args:
        in_features: Input width D.
        out_features: Output width O.
        grid_size: Number of grid intervals G (>= 1).
        spline_order: Spline order K (>= 0; 3 = cubic).
        grid_range: Initial grid ``(low, high)``.
        base_activation: Activation spec of the base branch b; ``None`` drops the branch.
        standalone_scaler: Learn the per-edge spline scaler S (efficient-kan default).
        bias: Add a learnable output bias.
        scale_noise: Amplitude of the initial spline coefficients (times 1 / G).
        scale_base: Kaiming gain factor of ``base_weight``.
        scale_spline: Kaiming gain factor of ``spline_scaler`` (or a constant factor on the
            coefficients without it).
        grid_eps: Weight of the uniform grid in :meth:`update_grid` (0 = quantile grid).
        chunk_size: Rows processed at once; ``None`` = automatic (256 MiB of basis).
        compile_kernels: Run the uniform-grid basis kernels through ``torch.compile``: ``None``
            (default) once a call has >= 2^21 basis entries or the layer's eager calls at that
            input shape add up to a compilation's cost (``_compile.use_compiled``; compiling
            takes seconds on CPU), ``True`` always, ``False`` never; falls back to the eager
            kernels with a warning when compilation fails. ``KANLAB_COMPILE=0|1`` sets
            ``None``'s choice.
        device: Factory kwarg for parameters and buffers.
        dtype: Factory kwarg for parameters and buffers.

    Raises:
        ValueError: for ``grid_size < 1``, ``spline_order < 0``, a ``grid_range`` that is not
            ``low < high``, an unknown ``base_activation``, ``grid_eps`` outside [0, 1],
            ``chunk_size < 1``, or (in ``forward``) a wrong input last dim.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: Sequence[float] = (-1.0, 1.0),
        base_activation: ActivationSpec | None = "silu",
        standalone_scaler: bool = True,
        bias: bool = False,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        grid_eps: float = 0.02,
        chunk_size: int | None = None,
        compile_kernels: bool | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_at_least("grid_size", grid_size, 1)
        check_at_least("spline_order", spline_order, 0)
        low, high = check_range("grid_range", grid_range)
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(f"`grid_eps` must be in [0, 1], but got grid_eps={grid_eps!r}.")
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.grid_size, self.spline_order = grid_size, spline_order
        self.grid_range = (low, high)
        self.num_bases = grid_size + spline_order
        self.scale_noise, self.scale_base = scale_noise, scale_base
        self.scale_spline = scale_spline
        self.grid_eps = grid_eps
        self.compile_kernels = compile_kernels
        self.base_activation = (
            None if base_activation is None else ACTIVATIONS.build(base_activation)
        )
        if self.base_activation is not None and (device is not None or dtype is not None):
            self.base_activation.to(device=device, dtype=dtype)  # its own parameters, if any
        knots = torch.empty(in_features, grid_size + 2 * spline_order + 1, **dd)
        self.register_buffer("grid", knots)                              # (D, G+2K+1)
        self.uniform_grid = True  # knots still on grid_range (closed-form kernels apply)
        self.register_load_state_dict_post_hook(_refresh_uniform_flag)  # type: ignore[no-untyped-call]
        self.base_weight = (
            nn.Parameter(torch.empty(out_features, in_features, **dd))
            if base_activation is not None
            else None
        )
        self.spline_weight = nn.Parameter(  # (O, D, M), stored basis-major (O, M, D)
            basis_major_empty(out_features, in_features, self.num_bases, **dd)
        )
        self.spline_scaler = (
            nn.Parameter(torch.empty(out_features, in_features, **dd))
            if standalone_scaler
            else None
        )
        self.bias = nn.Parameter(torch.empty(out_features, **dd)) if bias else None
        self.reset_parameters()

    grid: Tensor

    def reset_parameters(self) -> None:
        """efficient-kan initialisation (see the class docstring for the noise deviation).

        Also puts the knots back on the uniform grid of ``grid_range``.
        """
        with torch.no_grad():
            knots = extended_grid(
                self.grid_size, self.spline_order, self.grid_range,
                device=self.grid.device, dtype=self.grid.dtype,
            )                                                            # (G+2K+1,)
            self.grid.copy_(knots.expand_as(self.grid))                  # (D, G+2K+1)
        self.uniform_grid = True
        if self.base_weight is not None:
            nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5) * self.scale_base)
        amplitude = self.scale_noise / (2 * self.grid_size)
        if self.spline_scaler is None:
            amplitude *= self.scale_spline
        nn.init.uniform_(self.spline_weight, -amplitude, amplitude)
        if self.spline_scaler is not None:
            nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5) * self.scale_spline)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def scaled_spline_weight(self) -> Tensor:
        """Effective coefficients ``S[..., None] * W_s``: ``(O, D, G+K)``."""
        if self.spline_scaler is None:
            return self.spline_weight
        return self.spline_weight * self.spline_scaler.unsqueeze(-1)     # (O, D, M)

    def basis(self, x: Tensor) -> Tensor:
        """B-spline values ``(B, in_features, G+K)`` of the inputs ``(*, in_features)``."""
        check_in_features(x, self.in_features)
        x = x.reshape(-1, self.in_features)                              # (B, D)
        return cox_de_boor(x, self.grid, self.spline_order)              # (B, D, M)

    def reference_rows(self, x: Tensor) -> Tensor:
        """The formula in torch ops on a ``(n, in_features)`` block -> ``(n, out_features)``."""
        spline = self.basis(x).reshape(x.shape[0], -1)                   # (n, D*M)
        coef = self.scaled_spline_weight.reshape(self.out_features, -1)  # (O, D*M)
        y = F.linear(spline, coef, self.bias)                            # (n, O)
        if self.base_weight is not None and self.base_activation is not None:
            y = y + F.linear(self.base_activation(x), self.base_weight)
        return y

    def forward_rows(self, x: Tensor) -> Tensor:
        """:meth:`reference_rows` by the fused kernels (same values)."""
        return _fused.b_spline_kan(self, x)

    @torch.no_grad()
    def update_grid(self, x: Tensor, margin: float = 0.01) -> None:
        """Move the knots to the data and refit the coefficients so the layer keeps its values.

        The new interior knots mix the per-input sample quantiles (weight ``1 - grid_eps``) with
        a uniform grid over ``[min - margin, max + margin]`` (weight ``grid_eps``); K knots at the
        uniform spacing extend it on each side. ``spline_weight`` is then the least-squares fit
        of the old spline outputs on ``x`` (efficient-kan ``update_grid``).

        Args:
            x: A batch of this layer's inputs, ``(*, in_features)``.
            margin: Extra room around the data range of the uniform part (>= 0).

        Raises:
            ValueError: for a wrong input last dim or a negative ``margin``.
        """
        check_in_features(x, self.in_features)
        check_at_least("margin", margin, 0.0)
        x = x.reshape(-1, self.in_features)                              # (N, D)
        n, g, k = x.shape[0], self.grid_size, self.spline_order
        old_basis = self.basis(x).transpose(0, 1)                        # (D, N, M)
        old_coef = self.scaled_spline_weight.permute(1, 2, 0)            # (D, M, O)
        target = torch.bmm(old_basis, old_coef)                          # (D, N, O)

        x_sorted = torch.sort(x, dim=0).values                           # (N, D)
        picks = torch.linspace(0, n - 1, g + 1, device=x.device).long()
        adaptive = x_sorted[picks]                                       # (G+1, D)
        step = (x_sorted[-1] - x_sorted[0] + 2 * margin) / g             # (D,)
        ramp = torch.arange(g + 1, device=x.device, dtype=x.dtype)[:, None]  # (G+1, 1)
        uniform = ramp * step + x_sorted[0] - margin                     # (G+1, D)
        inner = self.grid_eps * uniform + (1 - self.grid_eps) * adaptive  # (G+1, D)
        ext = torch.arange(1, k + 1, device=x.device, dtype=x.dtype)[:, None]  # (K, 1)
        knots = torch.cat([inner[:1] - ext.flip(0) * step, inner, inner[-1:] + ext * step])
        self.grid.copy_(knots.T)                                         # (D, G+2K+1)
        self.uniform_grid = False

        new_basis = cox_de_boor(x, self.grid, k).transpose(0, 1)         # (D, N, M)
        coef = fit_coefficients(new_basis, target).permute(2, 0, 1)      # (O, D, M)
        if self.spline_scaler is not None:
            coef = coef / self.spline_scaler.unsqueeze(-1)               # (O, D, M)
        self.spline_weight.copy_(coef)

    def regularization_loss(
        self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
    ) -> Tensor:
        """efficient-kan's regulariser: L1 of mean |coefficients| per edge + their entropy."""
        l1 = self.spline_weight.abs().mean(-1)                           # (O, D)
        total = l1.sum()
        p = l1 / total.clamp_min(torch.finfo(l1.dtype).tiny)
        entropy: Tensor = -torch.special.xlogy(p, p).sum()
        return regularize_activation * total + regularize_entropy * entropy

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, grid_size={self.grid_size}, "
            f"spline_order={self.spline_order}, grid_range={self.grid_range}, "
            f"uniform_grid={self.uniform_grid}"
        )


def _refresh_uniform_flag(module: nn.Module, incompatible: Any) -> None:
    """After loading a state dict, use the closed-form path only if the grid is still uniform."""
    assert isinstance(module, BSplineKANLinear)
    ref = extended_grid(
        module.grid_size,
        module.spline_order,
        module.grid_range,
        device=module.grid.device,
        dtype=module.grid.dtype,
    )
    module.uniform_grid = bool(torch.allclose(module.grid, ref.expand_as(module.grid)))
