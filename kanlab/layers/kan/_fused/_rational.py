"""Fused kernels of ``gr_kan``: ``phi(x) @ W^T + c`` in one node, group gradients by reduction.

``phi`` is the group-rational of ``_rational.py`` (numerator shared by every channel, one
denominator row per group of channels). The forward keeps ``phi`` for the weight gradient;
the backward recomputes ``P``, ``Q`` and their derivatives from the saved ``x``.

The shared coefficients' gradients are sums over every element of their group. KAT's CUDA
kernel adds each element's contribution into the coefficient with atomic adds (FlashKAT,
arXiv:2505.13813, measures this as the bottleneck of its backward). Here they are reductions:
a column sum over the rows gives one partial per channel and term, ``(D, 4)``, and a product
with the ``(g, D)`` one-hot group-membership matrix sums those per group, ``(g, 4)``; the
numerator's six partials are full sums. No scatter, no atomics, deterministic.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx
from torch.nn import functional as F

from kanlab.layers._compile import Kernel, use_compiled
from kanlab.layers.kan._fused._function import FusedFunction, keep, kept, kernels_allowed
from kanlab.layers.kan._rational import DENOMINATOR_ORDER, NUMERATOR_ORDER, rational, safe_abs

__all__ = ["gr_kan"]


def _phi(x: Tensor, numerator: Tensor, den: Tensor) -> Tensor:
    """``P(x) / Q(x)`` for ``x`` ``(N, D)``; ``den`` = ``|b|`` per channel, ``(D, 4)``."""
    p = torch.addcmul(numerator[NUMERATOR_ORDER - 1], numerator[NUMERATOR_ORDER], x)
    for i in range(NUMERATOR_ORDER - 2, -1, -1):                        # Horner
        p = torch.addcmul(numerator[i], p, x)
    ax = x.abs()
    q = torch.addcmul(den[:, DENOMINATOR_ORDER - 2], den[:, DENOMINATOR_ORDER - 1], ax)
    for j in range(DENOMINATOR_ORDER - 3, -1, -1):
        q = torch.addcmul(den[:, j], q, ax)
    return p.div_(q.mul_(ax).add_(1))


def _phi_grads(
    x: Tensor, grad: Tensor, numerator: Tensor, den: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of ``sum(grad * phi(x))``: ``x`` ``(N, D)``, numerator ``(6,)`` and the
    per-channel partials ``sum_n -grad P / Q^2 |x|^{j+1}`` ``(D, 4)`` (times ``sign(b)`` and
    summed per group by the caller). Horner by ``addcmul``, reductions as dot products and
    column sums: one pass over memory per step."""
    a, top = numerator, NUMERATOR_ORDER
    dp = torch.addcmul(a[top - 1] * (top - 1), a[top], x, value=top)     # P' by Horner:
    for i in range(top - 2, 0, -1):                                      # sum i a_i x^(i-1)
        dp = torch.addcmul(a[i] * i, dp, x)
    p = torch.addcmul(a[top - 1], a[top], x)                             # P by Horner
    for i in range(top - 2, -1, -1):
        p = torch.addcmul(a[i], p, x)
    ax, c, n = x.abs(), den, DENOMINATOR_ORDER
    dq = torch.addcmul(c[:, n - 2] * (n - 1), c[:, n - 1] * n, ax)       # Q' = d/d|x| Q
    for j in range(n - 3, -1, -1):
        dq = torch.addcmul(c[:, j] * (j + 1), dq, ax)
    q = torch.addcmul(c[:, n - 2], c[:, n - 1], ax)                      # (Q - 1) / |x|
    for j in range(n - 3, -1, -1):
        q = torch.addcmul(c[:, j], q, ax)
    inv_q = q.mul_(ax).add_(1).reciprocal_()                             # 1 / Q
    r = grad * inv_q                                                     # d/da_i = x^i / Q
    s = (r * p).mul_(inv_q).neg_()                                       # -g P / Q^2
    grad_x = torch.addcmul(r * dp, s * dq, torch.sign(x))
    flat_r, power = r.reshape(-1), x.reshape(-1)
    grad_num = [flat_r.sum(), torch.dot(flat_r, power)]
    running = power.clone()
    for _ in range(2, top + 1):
        grad_num.append(torch.dot(flat_r, running.mul_(power)))
    chan, term = [], s.mul_(ax)                                          # s |x|^{j+1}
    for j in range(n):
        chan.append(term.sum(0))                                         # (D,)
        if j < n - 1:
            term = term.mul_(ax)
    return grad_x, torch.stack(grad_num), torch.stack(chan, 1)


_PHI = Kernel(_phi)
_PHI_GRADS = Kernel(_phi_grads)


class GroupRationalLinear(FusedFunction):
    """``phi(x) @ W^T + c`` in one autograd node; ``member`` is the ``(g, D)`` one-hot
    group-membership matrix (``member.T @ b`` is each channel's denominator row)."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        numerator: Tensor,
        denominator: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        member: Tensor,
        compiled: bool,
    ) -> Tensor:
        den = member.T @ safe_abs(denominator)                           # (D, 4)
        phi = _PHI(x, numerator, den, compiled=compiled)                 # (N, D)
        keep(ctx, (x, numerator, denominator, weight, bias, member, compiled), phi, den)
        return F.linear(phi, weight, bias)

    @staticmethod
    def expression(
        x: Tensor, numerator: Tensor, denominator: Tensor, weight: Tensor,
        bias: Tensor | None, member: Tensor, compiled: bool,
    ) -> Tensor:
        return F.linear(rational(x, numerator, member.T @ denominator), weight, bias)

    @staticmethod
    def fast_backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = grads
        args, (phi, den) = kept(ctx)
        x, numerator, denominator, weight, _, member, compiled = args
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        grad_x = grad_num = grad_den = grad_weight = grad_bias = None
        if need[0] or need[1] or need[2]:
            grad_phi = grad @ weight                                     # (N, D)
            gx, gnum, chan = _PHI_GRADS(x, grad_phi, numerator, den, compiled=compiled)
            grad_x = gx if need[0] else None
            grad_num = gnum if need[1] else None
            if need[2]:                                                  # per-group reduction
                sign = torch.where(denominator < 0, -1.0, 1.0).to(denominator.dtype)
                grad_den = (member @ chan) * sign                        # (g, 4)
        if need[3]:
            grad_weight = grad.T @ phi                                   # (O, D)
        if need[4]:
            grad_bias = grad.sum(0)
        return grad_x, grad_num, grad_den, grad_weight, grad_bias, None, None


class GroupRationalLayer(Protocol):
    """What :func:`gr_kan` reads from the layer (``GRKANLinear``)."""

    @property
    def numerator(self) -> Tensor: ...

    @property
    def denominator(self) -> Tensor: ...

    @property
    def weight(self) -> Tensor: ...

    @property
    def bias(self) -> Tensor | None: ...

    @property
    def member(self) -> Tensor: ...

    @property
    def compile_kernels(self) -> bool | None: ...

    def reference_rows(self, x: Tensor) -> Tensor: ...


def gr_kan(layer: GroupRationalLayer, x: Tensor) -> Tensor:
    """``layer.reference_rows(x)`` for ``x`` ``(N, D)`` by the fused kernels -> ``(N, O)``.

    Under ``torch.func`` transforms, forward-mode AD, tracing and export the reference
    forward runs instead.
    """
    if not kernels_allowed():
        return layer.reference_rows(x)
    out = GroupRationalLinear.apply(
        x, layer.numerator, layer.denominator, layer.weight, layer.bias, layer.member,
        # no caller: below AUTO_MIN_ENTRIES these kernels stay eager however many calls come
        # (not measured faster compiled at small shapes, as relu_kan's were not)
        use_compiled(layer.compile_kernels, x.numel() * 4),
    )
    assert isinstance(out, Tensor)
    return out
