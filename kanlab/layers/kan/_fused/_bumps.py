"""Fused kernels of ``relu_kan``: ``R(x) @ W^T + b`` in one autograd node.

``R_m(x) = [r (x - s_m)_+ (e_m - x)_+]^2`` written basis-major (one ``(N, D)`` slice per bump),
one matmul, and a hand-derived backward for x, s, e and W that recomputes the bumps.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx
from torch.nn import functional as F

from kanlab.layers._compile import Kernel, use_compiled
from kanlab.layers.kan._fused._function import FusedFunction, keep, kept, kernels_allowed
from kanlab.layers.kan._fused._weight import assemble_weight, weight_expression, weight_grads

__all__ = ["relu_kan"]


def _bumps_kernel(x: Tensor, low: Tensor, high: Tensor, *, scale: float) -> Tensor:
    """``R_m(x)`` basis-major: ``(N, M * D)``, one (N, D) slice per bump."""
    slices = [
        (F.relu(x - low[:, m]) * F.relu(high[:, m] - x) * scale).square()
        for m in range(low.shape[1])
    ]
    return torch.stack(slices, 1).reshape(x.shape[0], -1)              # (N, M*D)


def _bump_grads(
    x: Tensor, low: Tensor, high: Tensor, grad: Tensor, *, scale: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of x ``(N, D)``, s and e ``(D, M)`` from that of the bumps ``(N, M * D)``.

    With a = (x - s)_+, b = (e - x)_+, c = 2 r^2 a b dL/dR: dR/dx = c (b - a), dR/ds = -c b,
    dR/de = c a (c is 0 wherever a or b is, so the ReLU kinks need no special case).
    """
    g = grad.view(x.shape[0], low.shape[1], x.shape[1])                 # (N, M, D)
    grad_x = torch.zeros_like(x)
    grad_low, grad_high = [], []
    for m in range(low.shape[1]):
        a, b = F.relu(x - low[:, m]), F.relu(high[:, m] - x)             # (N, D)
        c = g[:, m] * a * b * (2 * scale * scale)
        grad_x = grad_x + c * (b - a)
        grad_low.append(-(c * b).sum(0))                                 # (D,)
        grad_high.append((c * a).sum(0))
    return grad_x, torch.stack(grad_low, 1), torch.stack(grad_high, 1)   # (N, D), (D, M) x 2


def _bumps_eager(x: Tensor, low: Tensor, high: Tensor, *, scale: float) -> Tensor:
    """:func:`_bumps_kernel` written in place into the output, slice by slice (no temporaries
    per bump, no stacking copy; the same operations per entry, so the same values)."""
    n, d = x.shape
    out = x.new_empty(n, low.shape[1], d)                                # (N, M, D)
    right = torch.empty_like(x)                                          # (N, D)
    for m in range(low.shape[1]):
        slot = out[:, m]                                                 # (N, D) view
        torch.sub(x, low[:, m], out=slot).relu_()
        torch.sub(high[:, m], x, out=right).relu_()
        slot.mul_(right).mul_(scale).square_()
    return out.view(n, -1)                                               # (N, M*D)


def _bump_grads_eager(
    x: Tensor, low: Tensor, high: Tensor, grad: Tensor, *, scale: float
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_bump_grads` with the per-bump temporaries reused in place (same values)."""
    g = grad.view(x.shape[0], low.shape[1], x.shape[1])                 # (N, M, D)
    grad_x = torch.zeros_like(x)
    grad_low = x.new_empty(x.shape[1], low.shape[1])                     # (D, M)
    grad_high = torch.empty_like(grad_low)
    a, b, c, t = (torch.empty_like(x) for _ in range(4))                 # (N, D) each
    for m in range(low.shape[1]):
        torch.sub(x, low[:, m], out=a).relu_()
        torch.sub(high[:, m], x, out=b).relu_()
        torch.mul(g[:, m], a, out=c).mul_(b).mul_(2 * scale * scale)
        grad_x.add_(torch.sub(b, a, out=t).mul_(c))
        torch.sum(torch.mul(c, b, out=t), 0, out=grad_low[:, m]).neg_()
        torch.sum(torch.mul(c, a, out=t), 0, out=grad_high[:, m])
    return grad_x, grad_low, grad_high                                   # (N, D), (D, M) x 2


_BUMPS = Kernel(_bumps_kernel, eager=_bumps_eager)
_BUMP_GRADS = Kernel(_bump_grads, eager=_bump_grads_eager)


class BumpLinear(FusedFunction):
    """``R(x) @ W^T + b`` in one autograd node, bumps basis-major (see ``_weight.py``)."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        low: Tensor,
        high: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        scale: float,
        compiled: bool,
    ) -> Tensor:
        feats = _BUMPS(x, low, high, compiled=compiled, scale=scale)     # (N, M*D)
        flat = assemble_weight(None, weight, None)                       # (O, M*D)
        keep(ctx, (x, low, high, weight, bias, scale, compiled), feats, flat)
        return F.linear(feats, flat, bias)

    @staticmethod
    def expression(
        x: Tensor, low: Tensor, high: Tensor, weight: Tensor, bias: Tensor | None,
        scale: float, compiled: bool,
    ) -> Tensor:
        xe = x.unsqueeze(1)                                              # (N, 1, D)
        bumps = (F.relu(xe - low.t()) * F.relu(high.t() - xe) * scale).square()  # (N, M, D)
        flat = weight_expression(None, weight, None)                      # (O, M*D)
        return F.linear(bumps.reshape(x.shape[0], -1), flat, bias)      # (N, O)

    @staticmethod
    def fast_backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = grads
        (x, low, high, weight, _, scale, compiled), (feats, flat) = kept(ctx)
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        grad_x = grad_low = grad_high = grad_weight = grad_bias = None
        if need[0] or need[1] or need[2]:
            gx, gl, gh = _BUMP_GRADS(
                x, low, high, grad @ flat, compiled=compiled, scale=scale
            )
            grad_x, grad_low, grad_high = (
                gx if need[0] else None, gl if need[1] else None, gh if need[2] else None
            )
        if need[3]:
            grad_weight = weight_grads(
                grad, feats, weight, None, lead=0, need_base=False, need_spline=True,
                compiled=compiled,
            )[1]
        if need[4]:
            grad_bias = grad.sum(0)
        return grad_x, grad_low, grad_high, grad_weight, grad_bias, None, None


class BumpLayer(Protocol):
    """What :func:`relu_kan` reads from the layer (``ReLUKANLinear``)."""

    @property
    def in_features(self) -> int: ...

    @property
    def out_features(self) -> int: ...

    @property
    def num_bases(self) -> int: ...

    @property
    def scale(self) -> float: ...

    @property
    def phase_low(self) -> Tensor: ...

    @property
    def phase_high(self) -> Tensor: ...

    @property
    def weight(self) -> Tensor: ...

    @property
    def bias(self) -> Tensor | None: ...

    @property
    def compile_kernels(self) -> bool | None: ...

    def reference_rows(self, x: Tensor) -> Tensor: ...


def relu_kan(layer: BumpLayer, x: Tensor) -> Tensor:
    """``layer.reference_rows(x)`` for ``x`` ``(N, D)`` by the fused kernels -> ``(N, O)``.

    Under ``torch.func`` transforms or forward-mode AD the reference forward runs instead.
    """
    if not kernels_allowed():
        return layer.reference_rows(x)
    out = BumpLinear.apply(
        x, layer.phase_low, layer.phase_high, layer.weight, layer.bias, layer.scale,
        use_compiled(layer.compile_kernels, x.numel() * layer.num_bases, caller=layer,
                     shape=tuple(x.shape)),
    )
    assert isinstance(out, Tensor)
    return out
