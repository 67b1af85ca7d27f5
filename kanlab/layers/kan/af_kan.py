"""AF-KAN linear layer: activation-function pairs on a shared grid, reduced by attention."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from kanlab.checks import (
    check_at_least,
    check_choice,
    check_in_features,
    check_positive,
    check_range,
)
from kanlab.layers.kan import _fused
from kanlab.layers.kan._af_kan_funcs import FUNCS, func_value
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.registry import ACTIVATIONS, LAYERS, ActivationSpec

__all__ = ["AFKANLinear"]

METHODS = ("global_attn", "spatial_attn", "multistep")
NORMS = ("layer", "batch", "none")
FUNC_NORMS = ("none", "batch", "sample")


@LAYERS.register("af_kan", kind="linear")
class AFKANLinear(KANLinearBase):
    """AF-KAN layer: a pair of shifted activations per grid cell, reduced to one value per input.

    Ta & Tran, "AF-KAN: Activation Function-Based Kolmogorov-Arnold Networks for Efficient
    Representation Learning", arXiv:2503.06112.

    Per input x_d (d = 1..D, D = ``in_features``) and basis index m = 0..M-1, M = G + K
    (G = ``grid_size``, K = ``spline_order``, ``grid_range`` = (lo, hi), h = (hi - lo) / G)::

        low_m  = lo + (m - K) h          high_m = low_m + (K + 1) h      (shared by all d)
        a = act(x_d - low_m)             b = act(high_m - x_d)           act = ``base_activation``
        F[d, m] = func(a, b)             with ``func``:
            quad1     (a b)^2                quad2     a b + a^2 + b^2
            sum       a + b                  prod      a b
            sum_prod  a + b + a b            cubic1    (a + b)(a^2 + b^2)
            cubic2    (a b)^3

    ``func_norm`` rescales F: ``batch`` -> (F - min F) / (max F - min F) over the whole
    (B, D, M) batch tensor (the authors' L2-then-min-max; the L2 step cancels), ``sample`` ->
    the same per sample over (D, M) (batch-independent), ``none`` -> unchanged. ``method``
    reduces F to one value z_d per input, with tau = max(``temperature``, 1) trainable::

        global_attn   s_d = sum_m w_m F[d, m] + c;  a = softmax_d(s / tau);
                      z_d = a_d sum_m F[d, m]
        spatial_attn  s[m, d] = sum_{k=-1..1} c_{m,k} F[d + k, m] + c_m   (depthwise conv along d)
                      a = softmax_m(s / tau);  z_d = sum_m a[m, d] F[d, m]
        multistep     z_d = sum_m w_m F[d, m] + c

    and the output is ``y = act(norm(z)) W^T`` with W of shape (``out_features``, D), no bias,
    and ``norm`` a LayerNorm / BatchNorm over the D inputs or nothing.

    Shapes: (*, in_features) -> (*, out_features); ``basis(x)``: (*, D) -> (*, D, M).

    Deviations from the authors' code (hoangthangta/All-KAN ``models/af_kan.py`` @ 8ed977f):
    ``method`` reaches the layer and selects what is built (All-KAN's model never forwards its
    ``methods``, so every layer ran global_attn, and every layer allocated the conv, local,
    self- and multi-head attention modules and an unused bias whatever was selected: here only
    the selected method's parameters exist, e.g. no temperature for multistep); the broken or
    "slow, memory error" methods (self_attn, local_attn, multihead_attn) and the model-level
    ``combined_type`` are not provided; ``func_norm="sample"`` is new; the min-max divides by
    max(range, tiny) instead of producing NaN for a constant F; an unknown activation name
    raises instead of silently becoming the identity. With ``method="global_attn"`` the score
    bias c cancels in the softmax (its gradient is zero); it is kept so that parameter counts
    match the paper's (52,552 for 784-64-10 with G = K = 3).

    Computation: :meth:`reference_rows` is the formula above (x -> z) in torch ops. The
    global_attn and multistep reductions are linear in F, so ``forward`` reaches z through the
    fused kernels of ``_fused/`` without materialising F (F @ [1, w] one basis index at a time
    on (N, D) slices and the attention in the same kernels, F recomputed in a hand-derived
    backward; ``torch.compile`` for large calls, see ``compile_kernels``) when the activation
    declares a closed-form derivative (SiLU, ReLU, GELU, sigmoid, tanh, identity) and
    ``func_norm`` is ``none``; otherwise the reference runs. Same values either way, up to
    float rounding. Differentiable to any order: gradients taken with ``create_graph=True`` are
    those of the formula on autograd; under ``torch.func`` transforms and forward-mode AD the
    reference runs. Rows are processed in memory-bounded chunks (``chunk_size``), except with
    ``func_norm="batch"``, whose min-max spans the whole batch.

    Args:
        in_features: D, the number of inputs.
        out_features: Number of outputs.
        grid_size: G >= 1, number of grid cells on ``grid_range``.
        spline_order: K >= 0; each basis function spans K + 1 cells and M = G + K.
        grid_range: (lo, hi), the interval split into G cells; the supports cover
            [lo - K h, hi + K h] ([-K/G, 1 + K/G] by default, as in the paper).
        base_activation: Spec of a registered elementwise activation (name, ``{name: ..., **hp}``
            or class), used inside the basis and after the norm.
        func: The pair function, one of quad1, quad2, sum, prod, sum_prod, cubic1, cubic2.
        method: The reduction over basis functions, global_attn, spatial_attn or multistep.
        norm: ``layer``, ``batch`` or ``none``, applied to z.
        func_norm: ``none``, ``batch`` or ``sample`` min-max rescaling of F.
        trainable_phases: Whether low/high are trained (else buffers).
        temperature: Initial attention temperature; None -> sqrt(in_features).
        chunk_size: Rows processed at once; ``None`` = automatic (256 MiB of basis).
        compile_kernels: Run the fused path's kernels through ``torch.compile``: ``None``
            (default) once a call has >= 2^21 basis entries or the layer's eager calls at that
            input shape add up to a compilation's cost (``_compile.use_compiled``; compiling
            takes seconds on CPU), ``True`` always, ``False`` never; falls back to the eager
            kernels with a warning when compilation fails. ``KANLAB_COMPILE=0|1`` sets
            ``None``'s choice.
        device: Factory kwarg for the parameters.
        dtype: Factory kwarg for the parameters.

    Raises:
        ValueError: for non-positive widths, ``grid_size < 1``, ``spline_order < 0``, a bad
            ``grid_range``, an unknown ``func``/``method``/``norm``/``func_norm`` (with the
            closest valid name), a non-elementwise ``base_activation``, a non-positive
            ``temperature`` or ``chunk_size``, and for an input whose last dim is not
            ``in_features``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 3,
        spline_order: int = 3,
        grid_range: Sequence[float] = (0.0, 1.0),
        base_activation: ActivationSpec = "silu",
        func: Literal[
            "quad1", "quad2", "sum", "prod", "sum_prod", "cubic1", "cubic2"
        ] = "quad1",
        method: Literal["global_attn", "spatial_attn", "multistep"] = "global_attn",
        norm: Literal["layer", "batch", "none"] = "layer",
        func_norm: Literal["none", "batch", "sample"] = "none",
        trainable_phases: bool = True,
        temperature: float | None = None,
        chunk_size: int | None = None,
        compile_kernels: bool | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_at_least("grid_size", grid_size, 1)
        check_at_least("spline_order", spline_order, 0)
        lo, hi = check_range("grid_range", grid_range)
        check_choice("func", func, FUNCS)
        check_choice("method", method, METHODS)
        check_choice("norm", norm, NORMS)
        check_choice("func_norm", func_norm, FUNC_NORMS)
        if temperature is not None:
            check_positive("temperature", temperature)
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.grid_size, self.spline_order = grid_size, spline_order
        self.grid_range = (lo, hi)
        self.func, self.method, self.norm_type, self.func_norm = func, method, norm, func_norm
        self.compile_kernels = compile_kernels
        self.num_bases = m = grid_size + spline_order
        self.initial_temperature = (
            math.sqrt(in_features) if temperature is None else float(temperature)
        )

        self.base_activation = _elementwise_activation(base_activation, device, dtype)
        self._make_parameters(m, trainable_phases=trainable_phases, method=method, norm=norm,
                              dd=dd)
        self.reset_parameters()

    def _make_parameters(self, m: int, *, trainable_phases: bool, method: str, norm: str,
                         dd: dict[str, Any]) -> None:
        """Phases, weight, the attention's parameters (by ``method``) and the norm module."""
        in_features, out_features = self.in_features, self.out_features
        low = torch.empty(m, **dd)                                          # (M,)
        high = torch.empty(m, **dd)                                         # (M,)
        if trainable_phases:
            self.low = nn.Parameter(low)
            self.high = nn.Parameter(high)
        else:
            self.register_buffer("low", low)
            self.register_buffer("high", high)
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **dd))  # (O, D)
        self.temperature: nn.Parameter | None = None
        self.score_weight: nn.Parameter | None = None
        self.score_bias: nn.Parameter | None = None
        self.conv_weight: nn.Parameter | None = None
        self.conv_bias: nn.Parameter | None = None
        if method != "multistep":
            self.temperature = nn.Parameter(torch.empty((), **dd))
        if method == "spatial_attn":
            self.conv_weight = nn.Parameter(torch.empty(m, 1, 3, **dd))     # depthwise, k=3
            self.conv_bias = nn.Parameter(torch.empty(m, **dd))
        else:
            self.score_weight = nn.Parameter(torch.empty(m, **dd))          # Linear(M -> 1)
            self.score_bias = nn.Parameter(torch.empty((), **dd))
        self.norm: nn.Module
        if norm == "layer":
            self.norm = nn.LayerNorm(in_features, **dd)
        elif norm == "batch":
            self.norm = nn.BatchNorm1d(in_features, **dd)
        else:
            self.norm = nn.Identity()

    def reset_parameters(self) -> None:
        """Paper grid for the phases; PyTorch's Linear/Conv1d defaults for the weights."""
        lo, hi = self.grid_range
        k, h = self.spline_order, (hi - lo) / self.grid_size
        with torch.no_grad():
            steps = torch.arange(self.num_bases, dtype=torch.float64)
            self.low.copy_(lo + (steps - k) * h)
            self.high.copy_(lo + (steps - k) * h + (k + 1) * h)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.temperature is not None:
            nn.init.constant_(self.temperature, self.initial_temperature)
        if self.score_weight is not None and self.score_bias is not None:
            bound = 1 / math.sqrt(self.num_bases)
            nn.init.uniform_(self.score_weight, -bound, bound)
            nn.init.uniform_(self.score_bias, -bound, bound)
        if self.conv_weight is not None and self.conv_bias is not None:
            bound = 1 / math.sqrt(3)
            nn.init.uniform_(self.conv_weight, -bound, bound)
            nn.init.uniform_(self.conv_bias, -bound, bound)
        if isinstance(self.norm, (nn.LayerNorm, nn.BatchNorm1d)):
            self.norm.reset_parameters()

    def basis(self, x: Tensor) -> Tensor:
        """F after ``func_norm``, before the reduction: (*, D) -> (*, D, M)."""
        check_in_features(x, self.in_features)
        lead = x.shape[:-1]
        f = self._features(x.reshape(-1, self.in_features))                 # (N, D, M)
        return f.reshape(*lead, self.in_features, self.num_bases)           # (*, D, M)

    def forward_flat(self, x: Tensor) -> Tensor:
        """``y = act(norm(z)) W^T`` for ``x`` ``(N, D)`` -> ``(N, O)``, z row-chunked."""
        if self.func_norm == "batch":  # the min-max spans the whole batch: one chunk
            z = self.forward_rows(x)                                        # (N, D)
        else:
            z = self.in_chunks(self.forward_rows, x)                        # (N, D)
        return F.linear(self.base_activation(self.norm(z)), self.weight)    # (N, O)

    def reference_rows(self, x: Tensor) -> Tensor:
        """The formula x -> z in torch ops: (N, D) -> (N, D)."""
        return self._reduce(self._features(x))

    def forward_rows(self, x: Tensor) -> Tensor:
        """:meth:`reference_rows` by the fused kernels when they apply (same values)."""
        return _fused.af_kan(self, x)

    def _features(self, x: Tensor) -> Tensor:
        """F on plain autograd: (N, D) -> (N, D, M)."""
        xe = x.unsqueeze(-1)                                                # (N, D, 1)
        a = self.base_activation(xe - self.low)                             # (N, D, M)
        b = self.base_activation(self.high - xe)                            # (N, D, M)
        f = func_value(self.func, a, b)                                     # (N, D, M)
        if self.func_norm == "none":
            return f
        dims = (0, 1, 2) if self.func_norm == "batch" else (1, 2)
        f_min = f.amin(dim=dims, keepdim=True)                              # (1|N, 1, 1)
        f_range = f.amax(dim=dims, keepdim=True) - f_min                    # (1|N, 1, 1)
        return (f - f_min) / f_range.clamp_min(torch.finfo(f.dtype).tiny)

    def inverse_temperature(self) -> Tensor:
        """1 / tau (multiplying by it keeps the temperature's backward to one product-sum)."""
        assert self.temperature is not None
        return self.temperature.clamp(min=1.0).reciprocal()

    def _reduce(self, f: Tensor) -> Tensor:
        """The reduction of F: (N, D, M) -> z (N, D)."""
        if self.method == "spatial_attn":
            assert self.conv_weight is not None
            ft = f.transpose(1, 2)                                          # (N, M, D)
            scores = F.conv1d(ft, self.conv_weight, self.conv_bias, padding=1, groups=ft.shape[1])
            attn = torch.softmax(scores * self.inverse_temperature(), dim=1)  # (N, M, D), over M
            return (ft * attn).sum(1)                                       # (N, D)
        assert self.score_weight is not None and self.score_bias is not None
        score = f @ self.score_weight + self.score_bias                     # (N, D)
        if self.method == "multistep":
            return score
        attn = torch.softmax(score * self.inverse_temperature(), dim=-1)    # (N, D), over D
        return f.sum(-1) * attn                                             # (N, D)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, grid_size={self.grid_size}, "
            f"spline_order={self.spline_order}, grid_range={self.grid_range}, "
            f"func={self.func!r}, method={self.method!r}, norm={self.norm_type!r}, "
            f"func_norm={self.func_norm!r}"
        )


def _elementwise_activation(spec: ActivationSpec, device: torch.device | str | None,
                            dtype: torch.dtype | None) -> nn.Module:
    """The base activation built from ``spec``, on ``device``/``dtype``.

    Raises:
        ValueError: ``spec`` names an activation that is not elementwise.
    """
    spec_name = spec if isinstance(spec, str) else None
    if isinstance(spec, Mapping):
        spec_name = spec.get("name")
    if isinstance(spec_name, str) and not ACTIVATIONS.entry(spec_name).meta.get("elementwise"):
        raise ValueError(
            "`base_activation` must be an elementwise activation, "
            f"but got base_activation={spec!r}."
        )
    activation: nn.Module = ACTIVATIONS.build(spec)
    if device is not None or dtype is not None:
        activation.to(device=device, dtype=dtype)  # its own parameters, if any
    return activation
