"""B-spline bases shared by every spline layer: knots, Cox–de Boor, least-squares refits.

Knots are stored per input as ``grid`` of shape ``(in_features, G + 2K + 1)``: the ``G + 1``
knots of ``grid_range`` extended by ``K`` knots on each side (efficient-kan layout), which
gives ``G + K`` basis functions of order ``K`` (degree ``K``) per input. :func:`cox_de_boor`
works on any sorted knot vector with half-open knot intervals ``[t_j, t_{j+1})``, so every
basis function is 0 outside the grid; it is plain autograd, differentiable to any order.
(The fused kernels' closed-form uniform-grid evaluation lives in ``_fused/_bspline.py``.)
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cox_de_boor", "extended_grid", "fit_coefficients", "nonzero"]


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
        left = (x - grid[:, : -(k + 1)]) / nonzero(grid[:, k:-1] - grid[:, : -(k + 1)])
        right = (grid[:, k + 1 :] - x) / nonzero(grid[:, k + 1 :] - grid[:, 1:-k])
        bases = left * bases[..., :-1] + right * bases[..., 1:]          # (*, D, T-1-k)
    return bases


def nonzero(width: Tensor) -> Tensor:
    """Repeated knots give 0/0 in Cox–de Boor; the matching lower-order basis is 0 there."""
    return torch.where(width == 0, torch.ones_like(width), width)


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
