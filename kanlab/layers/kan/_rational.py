"""The safe Padé rational of GR-KAN (KAT): formula, fit to a named activation, its gain.

    phi(x) = P(x) / Q(x)
    P(x) = a_0 + a_1 x + ... + a_5 x^5
    Q(x) = 1 + |b_0| |x| + |b_1| |x|^2 + |b_2| |x|^3 + |b_3| |x|^4

(orders m = 5, n = 4: the form KAT's CUDA and Triton kernels compute, Adamdad/rational_kat_cu).
``Q >= 1`` everywhere, so phi has no poles. ``|b|`` is :func:`safe_abs`, whose derivative is
``+1`` at ``b = 0`` (KAT's ``copysign(1, b)``): a denominator that starts at zero (the identity
init) still receives gradients.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from kanlab.measure import torch_threads
from kanlab.registry import ACTIVATIONS

__all__ = [
    "DENOMINATOR_ORDER",
    "FIT_RANGE",
    "NUMERATOR_ORDER",
    "fit_rational",
    "rational",
    "rational_gain",
    "safe_abs",
]

NUMERATOR_ORDER = 5
DENOMINATOR_ORDER = 4
FIT_RANGE = (-3.0, 3.0)
"""Where the init fit matches the target activation (KAT's ``fit.py``: 1000 points on it)."""


def safe_abs(b: Tensor) -> Tensor:
    """``|b|`` with derivative ``+1`` at 0 (``torch.abs`` has 0 there), to any order."""
    return torch.where(b < 0, -b, b)


def rational(x: Tensor, numerator: Tensor, denominator: Tensor) -> Tensor:
    """``P(x) / Q(x)`` elementwise; ``numerator`` ``(6,)``, ``denominator`` ``(..., 4)``
    broadcast against ``x`` with its last dim dropped (per channel: ``(D, 4)`` for ``(N, D)``).
    """
    p = numerator[NUMERATOR_ORDER]
    for i in range(NUMERATOR_ORDER - 1, -1, -1):                        # Horner
        p = p * x + numerator[i]
    ax, b = x.abs(), safe_abs(denominator)
    q = b[..., DENOMINATOR_ORDER - 1]
    for j in range(DENOMINATOR_ORDER - 2, -1, -1):
        q = q * ax + b[..., j]
    return p / (1 + q * ax)


@functools.cache
def fit_rational(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Coefficients ``(a_0..a_5), (b_0..b_3)`` of the rational closest (least squares on 1000
    points of :data:`FIT_RANGE`) to the registered activation ``name``.

    A linearised least-squares solve (``P(x) - f(x) sum_j c_j |x|^{j+1} = f(x)``) gives the
    start; L-BFGS on the exact squared error (float64) refines it. Deterministic: it runs on
    one thread (float sums depend on the thread count, and the cache keeps whatever the first
    call computed, so a layer's initial weights would otherwise depend on the thread count of
    the process's first fit); cached per name. ``identity`` gives ``P = x, Q = 1`` exactly.

    Raises:
        ValueError: for an unknown activation name (with the closest one).
    """
    with torch_threads(1), torch.device("cpu"):                          # also under meta
        return _fit(name)


def _fit(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    act = ACTIVATIONS.build(name)
    x = torch.linspace(*FIT_RANGE, 1000, dtype=torch.float64)
    with torch.no_grad():
        f = act.double()(x.clone())
    if torch.equal(f, x):                                                # identity: exact
        return (0.0, 1.0, 0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)
    ax = x.abs()
    cols = [x**i for i in range(NUMERATOR_ORDER + 1)]
    cols += [-f * ax ** (j + 1) for j in range(DENOMINATOR_ORDER)]
    sol = torch.linalg.lstsq(torch.stack(cols, 1), f.unsqueeze(1)).solution.squeeze(1)
    a = sol[: NUMERATOR_ORDER + 1].clone().requires_grad_()
    b = sol[NUMERATOR_ORDER + 1:].abs().clone().requires_grad_()
    start = float(torch.mean((rational(x, a.detach(), b.detach()) - f) ** 2))
    if start > 1e-20:
        opt = torch.optim.LBFGS([a, b], lr=1, max_iter=500, tolerance_grad=1e-14,
                                tolerance_change=1e-16, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            loss = torch.mean((rational(x, a, b) - f) ** 2)
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        opt.step(closure)  # type: ignore[no-untyped-call]
    a_fit, b_fit = a.detach(), b.detach()
    if not torch.isfinite(torch.cat([a_fit, b_fit])).all() or float(
        torch.mean((rational(x, a_fit, b_fit) - f) ** 2)
    ) > start:
        a_fit, b_fit = sol[: NUMERATOR_ORDER + 1], sol[NUMERATOR_ORDER + 1:].abs()
    return tuple(a_fit.tolist()), tuple(b_fit.tolist())


def rational_gain(numerator: Tensor, denominator: Tensor) -> float:
    """KAT's variance-preserving gain ``1 / sqrt(E[phi(z)^2])``, ``z ~ N(0, 1)``, of one
    rational (``denominator`` ``(4,)``), by 80-point Gauss-Hermite quadrature (KAT samples
    10^6 normals)."""
    import numpy as np

    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    z = torch.as_tensor(nodes, dtype=torch.float64, device="cpu")
    w = torch.as_tensor(weights / math.sqrt(2 * math.pi), dtype=torch.float64, device="cpu")
    with torch.no_grad():
        phi = rational(z, numerator.detach().double().cpu(), denominator.detach().double().cpu())
    second = float((w * phi**2).sum())
    return 1.0 / math.sqrt(second) if second > 0 else 1.0
