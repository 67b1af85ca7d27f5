"""Fused kernels of ``b_spline_kan``: ``[b(x) | B(x)] @ [W_b | S * W_s]^T + bias`` in one node.

On a uniform grid every B-spline is a shifted copy of the cardinal B-spline ``N_K(t)``
(support ``[0, K + 1)``), ``B_j(x) = N_K((x - t_0) / h - j)``; for ``K <= 3`` it is evaluated
from its closed-form polynomial pieces (no recursion) and differentiated analytically
(``N_K'(t) = N_{K-1}(t) - N_{K-1}(t - 1)``), so autograd saves only the input. After
``update_grid`` (per-input knots) the kernels run Cox–de Boor on ``(N, D)`` slices. Both use
half-open knot intervals, as the reference :func:`~kanlab.layers.kan._bspline.cox_de_boor`,
so all paths agree everywhere, including at knots and outside the grid.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx
from torch.nn import functional as F

from kanlab.layers._compile import Kernel, use_compiled
from kanlab.layers.activations._base import ClosedForm
from kanlab.layers.kan._bspline import cox_de_boor, nonzero
from kanlab.layers.kan._fused._function import (
    FusedFunction,
    closed_form_of,
    keep,
    kept,
    kernels_allowed,
)
from kanlab.layers.kan._fused._weight import assemble_weight, weight_expression, weight_grads

__all__ = ["b_spline_kan", "cardinal_bspline", "cardinal_bspline_derivative"]


def cardinal_bspline(t: Tensor, order: int) -> Tensor:
    """Cardinal B-spline ``N_K(t)`` of order ``K`` on the integer knots ``0 .. K + 1``."""
    if order == 0:
        return ((t >= 0) & (t < 1)).to(t.dtype)
    if order == 1:
        return (1 - (t - 1).abs()).clamp_min(0)
    if order == 2:
        s = (t - 1.5).abs()
        outer = (1.5 - s).clamp_min(0).square() * 0.5
        return torch.where(s < 0.5, 0.75 - s.square(), outer)
    if order == 3:
        s = (t - 2).abs()
        outer = (2 - s).clamp_min(0).pow(3)
        inner = (1 - s).clamp_min(0).pow(3)
        return (outer - 4 * inner) / 6
    left = t * cardinal_bspline(t, order - 1)
    right = (order + 1 - t) * cardinal_bspline(t - 1, order - 1)
    return (left + right) / order


def cardinal_bspline_derivative(t: Tensor, order: int) -> Tensor:
    """``dN_K/dt = N_{K-1}(t) - N_{K-1}(t - 1)`` (0 for ``K = 0``)."""
    if order == 0:
        return torch.zeros_like(t)
    return cardinal_bspline(t, order - 1) - cardinal_bspline(t - 1, order - 1)


def _positions(x: Tensor, low: float, step: float, order: int) -> Tensor:
    """Input in units of knot spacing, measured from the first extended knot ``t_0``."""
    return (x - (low - order * step)) / step


def cox_de_boor_derivative(x: Tensor, grid: Tensor, spline_order: int) -> Tensor:
    """``dB_j/dx`` of :func:`cox_de_boor`'s basis: ``(*, D, T - K - 1)``.

    ``B'_{j,K} = K (B_{j,K-1} / (t_{j+K} - t_j) - B_{j+1,K-1} / (t_{j+K+1} - t_{j+1}))``, a term
    with a zero-width support being 0 (its lower-order basis function is 0 there).
    """
    k = spline_order
    if k == 0:
        return torch.zeros(*x.shape, grid.shape[-1] - 1, dtype=x.dtype, device=x.device)
    lower = cox_de_boor(x, grid, k - 1)                                  # (*, D, T-K)
    left = k / nonzero(grid[:, k:-1] - grid[:, : -(k + 1)])             # (D, T-K-1)
    right = k / nonzero(grid[:, k + 1 :] - grid[:, 1:-k])               # (D, T-K-1)
    return lower[..., :-1] * left - lower[..., 1:] * right


def _knot_levels(x: Tensor, knots: Tensor, order: int) -> list[Tensor]:
    """Cox–de Boor on (N, D) slices: the ``T - 1 - order`` basis functions of ``order``
    (the M slices ``B_j(x)`` for the layer's order) on per-input knots ``(D, T)``."""
    t = [knots[:, i] for i in range(knots.shape[1])]                     # T x (D,)
    bases = [((x >= t[i]) & (x < t[i + 1])).to(x.dtype) for i in range(len(t) - 1)]
    for k in range(1, order + 1):
        bases = [
            (x - t[i]) / nonzero(t[i + k] - t[i]) * bases[i]
            + (t[i + k + 1] - x) / nonzero(t[i + k + 1] - t[i + 1]) * bases[i + 1]
            for i in range(len(t) - 1 - k)
        ]
    return bases


def _knot_slopes(x: Tensor, knots: Tensor, order: int) -> list[Tensor]:
    """The M slices ``dB_j/dx`` (N, D) on per-input knots ``(D, T)``."""
    n_basis = knots.shape[1] - 1 - order
    if order == 0:
        return [torch.zeros_like(x) for _ in range(n_basis)]
    lower = _knot_levels(x, knots, order - 1)                            # (M + 1) x (N, D)
    t = [knots[:, i] for i in range(knots.shape[1])]
    return [
        order / nonzero(t[j + order] - t[j]) * lower[j]
        - order / nonzero(t[j + order + 1] - t[j + 1]) * lower[j + 1]
        for j in range(n_basis)
    ]


# -- basis kernels ------------------------------------------------------------------------------
# On the uniform grid (knots None: closed form from ``low``, ``step``) or on per-input knots
# (after ``update_grid``: Cox–de Boor). Each exists as a functional expression, one (N, D)
# slice per basis function (what ``torch.compile`` fuses into one loop; the stack/sum over
# slices vectorises along D), and as an eager form (in-place slices on the uniform grid, so the
# work stays in cache; the broadcast recursion on knots). Tests check they agree.


def _features_fused(
    x: Tensor,
    base: Tensor | None,
    knots: Tensor | None,
    *,
    form: ClosedForm | None,
    low: float,
    step: float,
    n_basis: int,
    order: int,
) -> Tensor:
    if form is not None:
        base = form.value(x)                                             # (N, D)
    if knots is not None:
        slices = _knot_levels(x, knots, order)                           # M x (N, D)
    else:
        u = _positions(x, low, step, order)                              # (N, D)
        slices = [cardinal_bspline(u - j, order) for j in range(n_basis)]
    if base is not None:
        slices.insert(0, base)
    return torch.stack(slices, 1).reshape(x.shape[0], -1)              # (N, ([1+]M)*D)


def _features_eager(
    x: Tensor,
    base: Tensor | None,
    knots: Tensor | None,
    *,
    form: ClosedForm | None,
    low: float,
    step: float,
    n_basis: int,
    order: int,
) -> Tensor:
    lead = 0 if base is None and form is None else 1
    out = x.new_empty(x.shape[0], lead + n_basis, x.shape[1])            # (N, [1+]M, D)
    if form is not None:
        out[:, 0].copy_(form.value(x))
    elif base is not None:
        out[:, 0].copy_(base)
    if knots is not None:
        out[:, lead:] = cox_de_boor(x, knots, order).transpose(1, 2)     # (N, M, D)
    elif order == 3:
        _cubic_slices(x, out[:, lead:], low, step)
    else:
        u = _positions(x, low, step, order)                              # (N, D)
        for j in range(n_basis):
            out[:, lead + j] = cardinal_bspline(u - j, order)
    return out.reshape(x.shape[0], -1)                                   # (N, ([1+]M)*D)


def _cubic_slices(x: Tensor, out: Tensor, low: float, step: float) -> None:
    """Cubic case into ``out`` (N, M, D): ``6 B_j = (2-s)_+^3 - 4 (1-s)_+^3``, ``s = |u-j-2|``."""
    centre = (x - (low - step)) / step                                   # u - 2: (N, D)
    s, inner, square = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    for j in range(out.shape[1]):
        torch.sub(centre, float(j), out=s).abs_()                        # s = |u - j - 2|
        torch.sub(s, 1.0, out=inner).clamp_(max=0)                       # -(1 - s)_+
        s.sub_(2.0).clamp_(max=0)                                        # -(2 - s)_+
        slot = out[:, j]                                                 # (N, D) view
        torch.mul(s, s, out=slot).mul_(s)
        torch.mul(inner, inner, out=square)
        slot.addcmul_(square, inner, value=-4.0).mul_(-1.0 / 6.0)


def _grad_fused(
    x: Tensor,
    grad: Tensor,
    knots: Tensor | None,
    *,
    form: ClosedForm | None,
    low: float,
    step: float,
    order: int,
) -> Tensor:
    lead = 0 if form is None else 1
    out: Tensor | float
    if knots is not None:
        slopes = _knot_slopes(x, knots, order)                           # M x (N, D)
        out = sum(grad[:, lead + j] * slope for j, slope in enumerate(slopes))
    else:
        u = _positions(x, low, step, order)                              # (N, D)
        out = sum(  # (N, D)
            grad[:, lead + j] * cardinal_bspline_derivative(u - j, order)
            for j in range(grad.shape[1] - lead)
        ) / step
    assert isinstance(out, Tensor)
    if form is not None:
        out = out + form.backward(grad[:, 0], x, form.value(x))
    return out


def _grad_eager(
    x: Tensor,
    grad: Tensor,
    knots: Tensor | None,
    *,
    form: ClosedForm | None,
    low: float,
    step: float,
    order: int,
) -> Tensor:
    """``sum_j grad[:, j] * dB_j/dx`` (plus the base slice's term) for ``grad`` (N, [1+]M, D)."""
    lead = 0 if form is None else 1
    if knots is not None:
        slopes = cox_de_boor_derivative(x, knots, order).transpose(1, 2)  # (N, M, D)
        out = (grad[:, lead:] * slopes).sum(1)                           # (N, D)
    elif order == 3:
        out = _cubic_grad_slices(x, grad[:, lead:], low, step)
    else:
        u = _positions(x, low, step, order)                              # (N, D)
        out = torch.zeros_like(x)
        for j in range(grad.shape[1] - lead):
            out.addcmul_(grad[:, lead + j], cardinal_bspline_derivative(u - j, order))
        out.div_(step)
    if form is not None:
        out += form.backward(grad[:, 0], x, form.value(x))
    return out


def _cubic_grad_slices(x: Tensor, grad: Tensor, low: float, step: float) -> Tensor:
    """Cubic case; ``v = u - j - 2``: ``dB_j/du = sign(v) (2 (1-|v|)_+^2 - (2-|v|)_+^2 / 2)``."""
    centre = (x - (low - step)) / step                                   # u - 2: (N, D)
    out = torch.zeros_like(x)                                            # (N, D)
    v, s, inner = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    for j in range(grad.shape[1]):
        torch.sub(centre, float(j), out=v)                               # v = u - j - 2
        torch.abs(v, out=s)
        torch.sub(s, 1.0, out=inner).clamp_(max=0).square_()             # (1 - s)_+^2
        s.sub_(2.0).clamp_(max=0).square_()                              # (2 - s)_+^2
        inner.mul_(2.0).sub_(s, alpha=0.5).mul_(v.sign_())               # dB_j/du
        out.addcmul_(grad[:, j], inner)
    return out.div_(step)


_FEATURES = Kernel(_features_fused, eager=_features_eager)
_GRAD = Kernel(_grad_fused, eager=_grad_eager)


class SplineLinear(FusedFunction):
    """The whole layer, ``[b(x) | B(x)] @ [W_b | S * W_s]^T + bias``, as one autograd node.

    Forward: two kernels build the basis-major features (``[b(x) | B_0 .. B_{M-1}]``, slice
    ``j`` holding ``B_j`` of every input; ``b`` from ``form`` in the kernel, or ``base`` values
    computed on autograd outside, or absent) and the matching weight (``W_s`` is stored
    input-major ``(O, D, M)``, efficient-kan's layout), then one matmul. Fast backward: the
    weight gradient is one matmul with the saved features plus one kernel splitting it into
    ``W_b``, ``W_s`` and ``S``; the input gradient recomputes ``dB/dx`` from the saved input.
    One autograd node instead of a chain keeps the per-step overhead near that of a plain
    ``nn.Linear``. ``knots`` None means the uniform grid ``low + step * (-K .. G + K)``.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        knots: Tensor | None,
        base: Tensor | None,
        base_weight: Tensor | None,
        spline: Tensor,
        scaler: Tensor | None,
        bias: Tensor | None,
        form: ClosedForm | None,
        low: float,
        step: float,
        n_basis: int,
        order: int,
        compiled: bool,
    ) -> Tensor:
        feats = _FEATURES(
            x, base, knots, compiled=compiled, form=form, low=low, step=step, n_basis=n_basis,
            order=order,
        )                                                                # (N, W)
        weight = assemble_weight(base_weight, spline, scaler)            # (O, W)
        keep(ctx, (x, knots, base, base_weight, spline, scaler, bias, form, low, step, n_basis,
                   order, compiled), feats, weight)
        return F.linear(feats, weight, bias)

    @staticmethod
    def expression(
        x: Tensor, knots: Tensor | None, base: Tensor | None, base_weight: Tensor | None,
        spline: Tensor, scaler: Tensor | None, bias: Tensor | None, form: ClosedForm | None,
        low: float, step: float, n_basis: int, order: int, compiled: bool,
    ) -> Tensor:
        if knots is not None:
            basis = cox_de_boor(x, knots, order).transpose(1, 2)         # (N, M, D)
        else:
            shifts = torch.arange(n_basis, dtype=x.dtype, device=x.device)[:, None]  # (M, 1)
            u = _positions(x, low, step, order).unsqueeze(1)             # (N, 1, D)
            basis = cardinal_bspline(u - shifts, order)                  # (N, M, D)
        if form is not None:
            base = form.value(x)                                         # (N, D)
        if base is not None:
            basis = torch.cat([base.unsqueeze(1), basis], 1)             # (N, 1+M, D)
        weight = weight_expression(base_weight, spline, scaler)           # (O, W)
        return F.linear(basis.reshape(x.shape[0], -1), weight, bias)    # (N, O)

    @staticmethod
    def fast_backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = grads
        args, (feats, weight) = kept(ctx)
        x, knots, _, base_weight, spline, scaler, bias, form, low, step, n_basis, order = args[:12]
        compiled = args[12]
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        lead = int(base_weight is not None)
        grad_x = grad_base = grad_base_weight = grad_spline = grad_scaler = grad_bias = None
        if need[0] or need[2]:
            grad_feats = grad @ weight                                   # (N, W)
            if need[2]:
                grad_base = grad_feats[:, : x.shape[1]]
            if need[0]:
                g = grad_feats.view(x.shape[0], lead + n_basis, x.shape[1])  # (N, [1+]M, D)
                grad_x = _GRAD(
                    x, g if form is not None else g[:, lead:], knots, compiled=compiled,
                    form=form, low=low, step=step, order=order,
                )
        if need[3] or need[4] or need[5]:
            grad_base_weight, grad_spline, grad_scaler = weight_grads(
                grad, feats, spline, scaler, lead=lead, need_base=need[3],
                need_spline=need[4] or need[5], compiled=compiled,
            )
        if bias is not None and need[6]:
            grad_bias = grad.sum(0)
        return (
            grad_x, None, grad_base, grad_base_weight, grad_spline, grad_scaler, grad_bias,
            None, None, None, None, None, None,
        )


class SplineLayer(Protocol):
    """What :func:`b_spline_kan` reads from the layer (``BSplineKANLinear``)."""

    @property
    def base_activation(self) -> nn.Module | None: ...

    @property
    def base_weight(self) -> Tensor | None: ...

    @property
    def spline_weight(self) -> Tensor: ...

    @property
    def spline_scaler(self) -> Tensor | None: ...

    @property
    def bias(self) -> Tensor | None: ...

    @property
    def grid(self) -> Tensor: ...

    @property
    def grid_range(self) -> tuple[float, float]: ...

    @property
    def grid_size(self) -> int: ...

    @property
    def spline_order(self) -> int: ...

    @property
    def num_bases(self) -> int: ...

    @property
    def compile_kernels(self) -> bool | None: ...

    @property
    def uniform_grid(self) -> bool: ...

    def reference_rows(self, x: Tensor) -> Tensor: ...


def b_spline_kan(layer: SplineLayer, x: Tensor) -> Tensor:
    """``layer.reference_rows(x)`` for ``x`` ``(N, D)`` by the fused kernels -> ``(N, O)``.

    The base activation is evaluated inside the kernel when it declares a closed form, else
    on autograd outside it; under ``torch.func`` transforms or forward-mode AD the reference
    forward runs instead.
    """
    if not kernels_allowed():
        return layer.reference_rows(x)
    act, base_weight = layer.base_activation, layer.base_weight
    form = closed_form_of(act) if base_weight is not None else None
    values = act(x) if act is not None and base_weight is not None and form is None else None
    knots: Tensor | None = None if layer.uniform_grid else layer.grid
    low, high = layer.grid_range
    out = SplineLinear.apply(
        x, knots, values, base_weight, layer.spline_weight, layer.spline_scaler, layer.bias,
        form, low, (high - low) / layer.grid_size, layer.num_bases, layer.spline_order,
        use_compiled(layer.compile_kernels, x.numel() * layer.num_bases, caller=layer,
                     shape=tuple(x.shape)),
    )
    assert isinstance(out, Tensor)
    return out
