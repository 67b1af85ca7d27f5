"""B-spline bases shared by every spline layer: Cox–de Boor and the closed-form uniform case.

Knots are stored per input as ``grid`` of shape ``(in_features, G + 2K + 1)``: the ``G + 1``
knots of ``grid_range`` extended by ``K`` knots on each side (efficient-kan layout), which
gives ``G + K`` basis functions of order ``K`` (degree ``K``) per input.

Two evaluations of the same functions:

* :func:`cox_de_boor` works on any (sorted) knot vector, e.g. after ``update_grid``;
* :func:`spline_features` uses that on a uniform grid every basis function is a shifted copy
  of the cardinal B-spline ``N_K(t)`` (support ``[0, K + 1)``),
  ``B_j(x) = N_K((x - t_0) / h - j)``.
  For ``K <= 3`` ``N_K`` is evaluated from its closed-form polynomial pieces (no recursion);
  :class:`SplineFeatures` differentiates it analytically (``N_K'(t) = N_{K-1}(t) -
  N_{K-1}(t - 1)``) so that autograd saves only the input, and writes the base branch's
  activations next to the basis so that the layer is a single matmul. Its kernels run eagerly
  or fused by ``torch.compile`` (``_compile.py``).

Both use half-open knot intervals ``[t_j, t_{j+1})``, so they agree everywhere, including at
knots and outside the grid (where every basis function is 0).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from kanlab.layers.kan._basis_weight import WEIGHT, weight_grads
from kanlab.layers.kan._closed_form import ClosedForm
from kanlab.layers.kan._compile import Kernel

__all__ = [
    "SplineFeatures",
    "SplineLinear",
    "cardinal_bspline",
    "cardinal_bspline_derivative",
    "cox_de_boor",
    "cox_de_boor_derivative",
    "extended_grid",
    "fit_coefficients",
    "spline_features",
    "spline_linear",
]


def extended_grid(
    grid_size: int,
    spline_order: int,
    grid_range: tuple[float, float],
    *,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Uniform knots ``low + h * (-K .. G + K)`` with ``h = (high - low) / G``: ``(G+2K+1,)``."""
    low, high = grid_range
    step = (high - low) / grid_size
    steps = torch.arange(-spline_order, grid_size + spline_order + 1, device=device, dtype=dtype)
    return steps * step + low


def cox_de_boor(x: Tensor, grid: Tensor, spline_order: int) -> Tensor:
    """B-spline basis by the Cox–de Boor recursion on arbitrary sorted knots.

    Args:
        x: Inputs of shape ``(*, D)``.
        grid: Knots of shape ``(D, T)``, sorted along the last dim (repeats allowed).
        spline_order: Order ``K``; the result has ``T - K - 1`` functions per input.

    Returns:
        Basis values of shape ``(*, D, T - K - 1)``.
    """
    x = x.unsqueeze(-1)                                                  # (*, D, 1)
    bases = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)        # (*, D, T-1)
    for k in range(1, spline_order + 1):
        left = (x - grid[:, : -(k + 1)]) / _nonzero(grid[:, k:-1] - grid[:, : -(k + 1)])
        right = (grid[:, k + 1 :] - x) / _nonzero(grid[:, k + 1 :] - grid[:, 1:-k])
        bases = left * bases[..., :-1] + right * bases[..., 1:]          # (*, D, T-1-k)
    return bases


def _nonzero(width: Tensor) -> Tensor:
    """Repeated knots give 0/0 in Cox–de Boor; the matching lower-order basis is 0 there."""
    return torch.where(width == 0, torch.ones_like(width), width)


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
    left = k / _nonzero(grid[:, k:-1] - grid[:, : -(k + 1)])             # (D, T-K-1)
    right = k / _nonzero(grid[:, k + 1 :] - grid[:, 1:-k])               # (D, T-K-1)
    return lower[..., :-1] * left - lower[..., 1:] * right


def _knot_levels(x: Tensor, knots: Tensor, order: int) -> list[Tensor]:
    """Cox–de Boor on (N, D) slices: the ``T - 1 - order`` basis functions of ``order``
    (the M slices ``B_j(x)`` for the layer's order) on per-input knots ``(D, T)``."""
    t = [knots[:, i] for i in range(knots.shape[1])]                     # T x (D,)
    bases = [((x >= t[i]) & (x < t[i + 1])).to(x.dtype) for i in range(len(t) - 1)]
    for k in range(1, order + 1):
        bases = [
            (x - t[i]) / _nonzero(t[i + k] - t[i]) * bases[i]
            + (t[i + k + 1] - x) / _nonzero(t[i + k + 1] - t[i + 1]) * bases[i + 1]
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
        order / _nonzero(t[j + order] - t[j]) * lower[j]
        - order / _nonzero(t[j + order + 1] - t[j + 1]) * lower[j + 1]
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
    return torch.stack(slices, 1).reshape(x.shape[0], -1)              # (N, (1+M)*D)


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
    out = x.new_empty(x.shape[0], lead + n_basis, x.shape[1])            # (N, 1+M, D)
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
    return out.reshape(x.shape[0], -1)


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
        out = (grad[:, lead:] * cox_de_boor_derivative(x, knots, order).transpose(1, 2)).sum(1)
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


class SplineFeatures(torch.autograd.Function):
    """``[b(x) | B_0 .. B_{M-1}]`` on the uniform grid: ``(N, D) -> (N, (1 + M) * D)``.

    The closed-form basis, laid out basis-major (slice ``j`` holds ``B_j`` of every input) next
    to the base branch's activations, so that the layer is one matmul with ``[W_b | W_s]``. The
    base slice is either evaluated in the kernel (``form``, an activation with a closed-form
    derivative) or copied from ``base`` (any activation, computed by the caller on autograd,
    its gradient passed through); with neither there is no base slice. The backward recomputes
    ``dB/dx`` from the saved input: autograd keeps no elementwise intermediates.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        knots: Tensor | None,
        base: Tensor | None,
        form: ClosedForm | None,
        low: float,
        step: float,
        n_basis: int,
        order: int,
        compiled: bool,
    ) -> Tensor:
        ctx.save_for_backward(x, knots)  # type: ignore[arg-type]  # None is allowed
        ctx.params = (form, low, step, n_basis, order, compiled)  # type: ignore[attr-defined]
        ctx.has_base = base is not None  # type: ignore[attr-defined]
        out: Tensor = _FEATURES(
            x, base, knots, compiled=compiled, form=form, low=low, step=step, n_basis=n_basis,
            order=order,
        )
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, knots = ctx.saved_tensors  # type: ignore[attr-defined]
        form, low, step, n_basis, order, compiled = ctx.params  # type: ignore[attr-defined]
        lead = 1 if ctx.has_base or form is not None else 0  # type: ignore[attr-defined]
        grad = grad.view(x.shape[0], lead + n_basis, x.shape[1])         # (N, 1+M, D)
        grad_base = grad[:, 0] if ctx.has_base and ctx.needs_input_grad[2] else None  # type: ignore[attr-defined]
        grad_x = None
        if ctx.needs_input_grad[0]:  # type: ignore[attr-defined]
            grad_x = _GRAD(
                x, grad if form is not None else grad[:, lead:], knots, compiled=compiled,
                form=form, low=low, step=step, order=order,
            )
        return grad_x, None, grad_base, None, None, None, None, None, None


def spline_features(
    x: Tensor,
    base: Tensor | ClosedForm | None,
    low: float,
    step: float,
    n_basis: int,
    spline_order: int,
    compiled: bool = False,
    knots: Tensor | None = None,
) -> Tensor:
    """Base activations and closed-form basis on the uniform grid ``low + step * (-K .. G + K)``
    (or, with ``knots``, on those per-input knots by Cox–de Boor).

    Args:
        x: Inputs ``(N, D)``.
        base: The base branch: its values ``b(x)`` ``(N, D)``, or the closed form of ``b`` to
            evaluate in the kernel, or None for no base slice.
        low: First knot of the (unextended) grid range.
        step: Knot spacing ``h``.
        n_basis: ``M = G + K``.
        spline_order: ``K``.
        compiled: Run the fused ``torch.compile`` kernels (see ``_compile.py``).
        knots: Per-input knots ``(D, M + K + 1)`` (e.g. after ``update_grid``); ``low`` and
            ``step`` are then ignored.

    Returns:
        ``(N, (1 + M) * D)`` (``(N, M * D)`` without ``base``): slice 0 ``base``, slice
        ``1 + j`` the values ``B_j(x)`` of every input.
    """
    form = base if isinstance(base, ClosedForm) else None
    values = base if isinstance(base, Tensor) else None
    out = SplineFeatures.apply(
        x, knots, values, form, low, step, n_basis, spline_order, compiled
    )
    assert isinstance(out, Tensor)
    return out


class SplineLinear(torch.autograd.Function):
    """The whole layer, ``[b(x) | B(x)] @ [W_b | S * W_s]^T + bias``, as one autograd node.

    Forward: two kernels build the basis-major features (as :class:`SplineFeatures`) and the
    matching weight (``W_s`` is stored input-major ``(O, D, M)``, efficient-kan's layout, kept for
    checkpoints and grid updates), then one matmul. Backward: the weight gradient is one matmul
    with the saved features plus one kernel splitting it into ``W_b``, ``W_s`` and ``S``; the
    input gradient (only when needed) recomputes ``dB/dx`` from the saved input. One autograd
    node instead of a chain keeps the per-step overhead near that of a plain ``nn.Linear``.
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
        weight = WEIGHT(base_weight, spline, scaler, compiled=compiled)  # (O, W)
        ctx.save_for_backward(x, knots, feats, weight, spline, scaler)  # type: ignore[arg-type]
        ctx.opts = (  # type: ignore[attr-defined]
            base is not None, base_weight is not None, bias is not None,
            form, low, step, n_basis, order, compiled,
        )
        return torch.nn.functional.linear(feats, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, knots, feats, weight, spline, scaler = ctx.saved_tensors  # type: ignore[attr-defined]
        has_base, has_base_weight, has_bias, form, low, step, n_basis, order, compiled = (
            ctx.opts  # type: ignore[attr-defined]
        )
        need = ctx.needs_input_grad[:1] + ctx.needs_input_grad[2:]  # type: ignore[attr-defined]
        lead = int(has_base_weight)
        grad_x = grad_base = grad_base_weight = grad_spline = grad_scaler = grad_bias = None
        if need[0] or need[1]:
            grad_feats = grad @ weight                                   # (N, W)
            if need[1]:
                grad_base = grad_feats[:, : x.shape[1]]
            if need[0]:
                g = grad_feats.view(x.shape[0], lead + n_basis, x.shape[1])  # (N, 1+M, D)
                grad_x = _GRAD(
                    x, g if form is not None else g[:, lead:], knots, compiled=compiled,
                    form=form, low=low, step=step, order=order,
                )
        if need[2] or need[3] or need[4]:
            grad_base_weight, grad_spline, grad_scaler = weight_grads(
                grad, feats, spline, scaler, lead=lead, need_base=need[2],
                need_spline=need[3] or need[4], compiled=compiled,
            )
        if has_bias and need[5]:
            grad_bias = grad.sum(0)
        return (
            grad_x, None, grad_base, grad_base_weight, grad_spline, grad_scaler, grad_bias,
            None, None, None, None, None, None,
        )


def spline_linear(
    x: Tensor,
    base: Tensor | ClosedForm | None,
    base_weight: Tensor | None,
    spline_weight: Tensor,
    scaler: Tensor | None,
    bias: Tensor | None,
    grid: tuple[float, float, int, int] | Tensor,
    compiled: bool = False,
) -> Tensor:
    """The B-spline KAN layer on ``(N, D)`` -> ``(N, O)``.

    Args:
        x: Inputs ``(N, D)``.
        base: The base branch: its values ``b(x)`` ``(N, D)``, or the closed form of ``b`` to
            evaluate in the kernel, or None for no base branch (then ``base_weight`` is None).
        base_weight: ``W_b`` ``(O, D)`` or None.
        spline_weight: ``W_s`` ``(O, D, M)``.
        scaler: ``S`` ``(O, D)`` or None.
        bias: ``(O,)`` or None.
        grid: ``(low, step, M, K)`` of the uniform grid ``low + step * (-K .. G + K)``, or
            per-input knots ``(D, M + K + 1)`` (after ``update_grid``: Cox–de Boor).
        compiled: Run the kernels through ``torch.compile``.
    """
    knots = grid if isinstance(grid, Tensor) else None
    n_basis = spline_weight.shape[-1]
    if isinstance(grid, Tensor):
        low, step, order = 0.0, 1.0, grid.shape[1] - n_basis - 1
    else:
        low, step, _, order = grid
    form = base if isinstance(base, ClosedForm) else None
    values = base if isinstance(base, Tensor) else None
    out = SplineLinear.apply(
        x, knots, values, base_weight, spline_weight, scaler, bias, form, low, step, n_basis,
        order, compiled,
    )
    assert isinstance(out, Tensor)
    return out


def fit_coefficients(basis: Tensor, target: Tensor, rcond: float | None = None) -> Tensor:
    """Least-squares spline coefficients per input: ``basis @ c ≈ target``.

    Args:
        basis: ``(D, N, M)`` basis values of ``N`` samples.
        target: ``(D, N, O)`` values to reproduce.
        rcond: Cut-off for small singular values (default: machine precision).

    Returns:
        ``(D, M, O)`` coefficients, in the dtype and on the device of ``basis``. The solve runs
        in float64 on the CPU with the SVD driver ``gelsd``, which copes with rank-deficient
        bases (CUDA's ``gels`` returns NaN for them, pykan PR #233).
    """
    a = basis.detach().to("cpu", torch.float64)
    b = target.detach().to("cpu", torch.float64)
    solution: Tensor = torch.linalg.lstsq(a, b, rcond=rcond, driver="gelsd").solution
    return solution.to(device=basis.device, dtype=basis.dtype)
