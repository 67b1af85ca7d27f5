"""B-spline bases shared by every spline layer: Cox–de Boor and the closed-form uniform case.

Knots are stored per input as ``grid`` of shape ``(in_features, G + 2K + 1)``: the ``G + 1``
knots of ``grid_range`` extended by ``K`` knots on each side (efficient-kan layout), which
gives ``G + K`` basis functions of order ``K`` (degree ``K``) per input.

Two evaluations of the same functions:

* :func:`cox_de_boor` works on any (sorted) knot vector, e.g. after ``update_grid``;
* :func:`uniform_basis` uses that on a uniform grid every basis function is a shifted copy of
  the cardinal B-spline ``N_K(t)`` (support ``[0, K + 1)``), ``B_j(x) = N_K((x - t_0) / h - j)``.
  For ``K <= 3`` ``N_K`` is evaluated from its closed-form polynomial pieces (no recursion),
  which is several times faster; :class:`UniformBSplineBasis` differentiates it analytically
  (``N_K' (t) = N_{K-1}(t) - N_{K-1}(t - 1)``) so that autograd saves only the input.

Both use half-open knot intervals ``[t_j, t_{j+1})``, so they agree everywhere, including at
knots and outside the grid (where every basis function is 0).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

__all__ = [
    "UniformBSplineBasis",
    "cardinal_bspline",
    "cardinal_bspline_derivative",
    "cox_de_boor",
    "extended_grid",
    "fit_coefficients",
    "uniform_basis",
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


def _uniform_positions(x: Tensor, low: float, step: float, spline_order: int) -> Tensor:
    """Input in units of knot spacing, measured from the first extended knot ``t_0``."""
    return (x - (low - spline_order * step)) / step


def _uniform_eval(
    x: Tensor,
    low: float,
    step: float,
    n_basis: int,
    spline_order: int,
    derivative: bool,
    compiled: bool = False,
) -> Tensor:
    if spline_order == 3 and not derivative:
        if compiled:
            return _compiled_cubic(x, low, step, n_basis)
        return _uniform_cubic(x, low, step, n_basis)
    u = _uniform_positions(x, low, step, spline_order)                   # (N, D)
    fn = cardinal_bspline_derivative if derivative else cardinal_bspline
    out = x.new_empty(x.shape[0], n_basis, x.shape[1])                   # (N, M, D)
    for j in range(n_basis):                                             # slices stay in cache
        out[:, j] = fn(u - j, spline_order)
    return out / step if derivative else out


def _uniform_cubic(x: Tensor, low: float, step: float, n_basis: int) -> Tensor:
    """Cubic fast path: ``6 B_j = (2 - s)_+^3 - 4 (1 - s)_+^3``, ``s = |u - j - 2|``.

    One basis slice at a time with in-place ops on three reused ``(N, D)`` buffers, so the work
    stays in cache and the ``(N, M, D)`` output is written once.
    """
    centre = (x - (low - step)) / step                                   # u - 2: (N, D)
    out = x.new_empty(x.shape[0], n_basis, x.shape[1])                   # (N, M, D)
    s, inner, square = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    for j in range(n_basis):
        torch.sub(centre, float(j), out=s).abs_()                        # s = |u - j - 2|
        torch.sub(s, 1.0, out=inner).clamp_(max=0)                       # -(1 - s)_+
        s.sub_(2.0).clamp_(max=0)                                        # -(2 - s)_+
        slot = out[:, j]                                                 # (N, D) view
        torch.mul(s, s, out=slot).mul_(s)
        torch.mul(inner, inner, out=square)
        slot.addcmul_(square, inner, value=-4.0).mul_(-1.0 / 6.0)
    return out


def _uniform_cubic_grad(x: Tensor, grad: Tensor, low: float, step: float, n_basis: int) -> Tensor:
    """``sum_j grad[:, j] * dB_j/dx`` for the cubic case, one slice at a time.

    With ``v = u - j - 2``: ``dB_j/du = sign(v) * (2 (1 - |v|)_+^2 - (2 - |v|)_+^2 / 2)``.
    """
    centre = (x - (low - step)) / step                                   # u - 2: (N, D)
    out = torch.zeros_like(x)                                            # (N, D)
    v, s, inner = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    for j in range(n_basis):
        torch.sub(centre, float(j), out=v)                               # v = u - j - 2
        torch.abs(v, out=s)
        torch.sub(s, 1.0, out=inner).clamp_(max=0).square_()             # (1 - s)_+^2
        s.sub_(2.0).clamp_(max=0).square_()                              # (2 - s)_+^2
        inner.mul_(2.0).sub_(s, alpha=0.5).mul_(v.sign_())               # dB_j/du
        out.addcmul_(grad[:, j], inner)
    return out.div_(step)


def _cubic_broadcast(x: Tensor, low: float, step: float, n_basis: int) -> Tensor:
    """The cubic fast path as one broadcast expression, for ``torch.compile`` to fuse."""
    j = torch.arange(n_basis, device=x.device, dtype=x.dtype)[:, None]   # (M, 1)
    s = ((x.unsqueeze(1) - (low - step)) / step - j).abs()               # (N, M, D)
    outer = (2 - s).clamp_min(0)
    inner = (1 - s).clamp_min(0)
    return (outer * outer * outer - 4 * inner * inner * inner) / 6


_COMPILED: dict[str, Callable[..., Tensor] | None] = {}


def _compiled_cubic(x: Tensor, low: float, step: float, n_basis: int) -> Tensor:
    """``torch.compile``d cubic basis; falls back to eager (once, with a warning) on failure."""
    if "cubic" not in _COMPILED:
        fn: Callable[..., Tensor] | None
        try:
            fn = torch.compile(_cubic_broadcast, dynamic=True)
        except Exception as err:  # no compiler backend: keep the eager path
            logger.warning("torch.compile unavailable for the B-spline basis (%s)", err)
            fn = None
        _COMPILED["cubic"] = fn
    fn = _COMPILED["cubic"]
    if fn is not None:
        try:
            return fn(x, low, step, n_basis)
        except Exception as err:  # e.g. no C++ toolchain at first call
            logger.warning("compiled B-spline basis failed, using eager (%s)", err)
            _COMPILED["cubic"] = None
    return _uniform_cubic(x, low, step, n_basis)


class UniformBSplineBasis(torch.autograd.Function):
    """Closed-form uniform B-spline basis ``(N, D) -> (N, M, D)`` (basis-major layout).

    The backward recomputes ``dB/dx`` from the saved input instead of keeping the elementwise
    intermediates, so the memory cost of a backward pass is the input only.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: Tensor,
        low: float,
        step: float,
        n_basis: int,
        spline_order: int,
        compiled: bool = False,
    ) -> Tensor:
        ctx.save_for_backward(x)
        ctx.params = (low, step, n_basis, spline_order)  # type: ignore[attr-defined]
        return _uniform_eval(x, low, step, n_basis, spline_order, False, compiled)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, None, None, None, None, None]:
        (x,) = ctx.saved_tensors  # type: ignore[attr-defined]
        if not ctx.needs_input_grad[0]:  # type: ignore[attr-defined]
            return None, None, None, None, None, None
        low, step, n_basis, order = ctx.params  # type: ignore[attr-defined]
        if order == 3:
            return _uniform_cubic_grad(x, grad, low, step, n_basis), None, None, None, None, None
        slope = _uniform_eval(x, low, step, n_basis, order, derivative=True)  # (N, M, D)
        return (grad * slope).sum(1), None, None, None, None, None


def uniform_basis(
    x: Tensor, low: float, step: float, n_basis: int, spline_order: int, compiled: bool = False
) -> Tensor:
    """Closed-form basis on the uniform grid ``low + step * (-K .. G + K)``.

    Args:
        x: Inputs ``(N, D)``.
        low: First knot of the (unextended) grid range.
        step: Knot spacing ``h``.
        n_basis: ``G + K``.
        spline_order: ``K``.
        compiled: Evaluate the cubic case with a ``torch.compile``d kernel (first call
            compiles; falls back to eager if compilation fails).

    Returns:
        ``(N, M, D)`` with ``M = n_basis`` (basis-major, so the last dim stays contiguous).
    """
    out = UniformBSplineBasis.apply(x, low, step, n_basis, spline_order, compiled)
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
