"""The weight of a one-matmul KAN layer: ``[W_b | S * W_s]`` in basis-major layout.

The fused KAN layers write their features basis-major, ``[b(x) | B_0(x) | .. | B_{M-1}(x)]``
(slice ``j`` holds basis function ``j`` of every input), next to the base branch, so that the
whole layer is one matmul whose weight is ``(O, (1+M) * D)``. The spline coefficients are
*indexed* input-major ``(O, D, M)`` (the peers' layout: checkpoints, grid updates, plots), but a
layer may *store* them basis-major: the parameter is then the ``(O, D, M)`` view
``storage.transpose(1, 2)`` of a contiguous ``(O, M, D)`` tensor (:func:`basis_major_empty`),
its gradient and optimizer state get the same strides (autograd's and ``torch.optim``'s layout
contract), and the kernels here read and write it without any transpose copy:

* forward: ``W[:, 0] = W_b``, ``W[:, 1:] = S[:, None] * W_s^T`` written in place (one pass;
  no pass at all for a layer with neither a base branch nor a scaler: ``W`` is then the
  parameter's own storage);
* backward: ``gW_s = grad^T @ feats[:, D:]`` is ``(O, M, D)`` contiguous (a GEMM of its own,
  next to ``grad^T @ feats[:, :D]`` for ``W_b``), so ``g_{W_s}`` (times ``S``) comes out in the
  parameter's own layout, ``g_S = sum_j gW_s[:, j] * W_s[..., j]``.

An input-major (contiguous ``(O, D, M)``) coefficient tensor gives the same values, by strided
reads and one permuted copy of its gradient.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from kanlab.layers._compile import Kernel

__all__ = ["assemble_weight", "basis_major_empty", "weight_expression", "weight_grads"]


def basis_major_empty(out_features: int, in_features: int, n_basis: int, **dd: Any) -> Tensor:
    """An uninitialised ``(O, D, M)`` coefficient tensor stored basis-major ``(O, M, D)``."""
    return torch.empty(out_features, n_basis, in_features, **dd).transpose(1, 2)


def _is_basis_major(spline: Tensor) -> bool:
    return spline.transpose(1, 2).is_contiguous()


def weight_expression(base: Tensor | None, spline: Tensor, scaler: Tensor | None) -> Tensor:
    """``[W_b | S * W_s]`` (``W_b`` (O, D) or None, ``W_s`` (O, D, M), ``S`` (O, D) or None),
    in differentiable ops (a transpose and a cat)."""
    coef = spline if scaler is None else spline * scaler.unsqueeze(-1)   # (O, D, M)
    coef = coef.transpose(1, 2)                                          # (O, M, D)
    if base is not None:
        coef = torch.cat([base.unsqueeze(1), coef], 1)                   # (O, 1+M, D)
    return coef.reshape(coef.shape[0], -1)                               # (O, ([1+]M)*D)


def assemble_weight(base: Tensor | None, spline: Tensor, scaler: Tensor | None) -> Tensor:
    """:func:`weight_expression` written in place into one buffer (no autograd): a copy and at
    most one multiply per entry, so the same bits as the expression.

    Always eager. Compiled, it took longer on CPU (``(64, 784, 8)`` with a base branch: 330
    against 183 us; ``(10, 64, 8)``: 147 against 21 us, one thread) and, called by every layer
    with its own sizes, optional inputs and each run's deterministic-mode flag, it reached
    Dynamo's recompilation limit within one ``kanlab search`` process. Traced into a user's
    compiled model it is :func:`weight_expression` (Dynamo breaks the graph at an ``out=``
    write into a strided slice).
    """
    if torch.compiler.is_compiling():
        return weight_expression(base, spline, scaler)
    o, d, m = spline.shape
    if base is None and scaler is None and _is_basis_major(spline):
        return spline.transpose(1, 2).view(o, -1)                        # (O, M*D), no copy
    lead = int(base is not None)
    out = spline.new_empty(o, lead + m, d)                               # (O, [1+]M, D)
    if base is not None:
        out[:, 0].copy_(base)
    coef = spline.transpose(1, 2)                                        # (O, M, D)
    if scaler is None:
        out[:, lead:].copy_(coef)
    else:
        torch.mul(coef, scaler.unsqueeze(1), out=out[:, lead:])
    return out.view(o, -1)                                               # (O, ([1+]M)*D)


def _weight_grad(grad_s: Tensor, spline: Tensor, scaler: Tensor) -> tuple[Tensor, Tensor]:
    """Gradients of ``W_s`` and ``S`` from that of ``S * W_s`` stored basis-major, ``grad_s``
    being ``(O, M*D)``; ``W_s``'s comes out ``(O, D, M)`` with basis-major strides."""
    o, d, m = spline.shape
    g = grad_s.view(o, m, d)                                             # (O, M, D)
    coef = spline.transpose(1, 2)                                        # (O, M, D)
    return (g * scaler.unsqueeze(1)).transpose(1, 2), (g * coef).sum(1)


def _weight_grad_t(
    grad_t: Tensor, spline: Tensor, scaler: Tensor | None, *, lead: int
) -> tuple[Tensor, Tensor | None]:
    """Gradients of ``W_s`` and ``S`` (None without a scaler) for input-major ``W_s`` from the
    transposed gradient of ``[W_b | S * W_s]``, ``((lead+M)*D, O)``."""
    g = grad_t.view(lead + spline.shape[-1], spline.shape[1], -1)[lead:]  # (M, D, O)
    g = g.permute(2, 1, 0)                                               # (O, D, M)
    if scaler is None:
        return g.contiguous(), None
    return g * scaler.unsqueeze(-1), (g * spline).sum(-1)


_WEIGHT_GRAD = Kernel(_weight_grad)
_WEIGHT_GRAD_T = Kernel(_weight_grad_t)


def weight_grads(
    grad: Tensor,
    feats: Tensor,
    spline: Tensor,
    scaler: Tensor | None,
    *,
    lead: int,
    need_base: bool,
    need_spline: bool,
    compiled: bool,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Gradients of ``W_b``, ``W_s`` and ``S`` for ``y = feats @ [W_b | S * W_s]^T``.

    ``grad`` is dL/dy ``(N, O)``, ``feats`` the saved features ``(N, (lead+M) * D)``. For
    basis-major ``W_s`` (how the layers store it) the weight gradient is ``grad^T feats``,
    one GEMM per block of columns (the base's, the spline's), already in the parameters'
    layout. For input-major ``W_s`` it is ``(feats^T grad)^T``, one GEMM, whose spline block is
    then copied (permuted) into the parameter's layout.

    The orientation matters for speed, not only for layout: with few outputs and many rows
    (a KAN convolution's windows, S-KAN's candidates there) MKL runs ``feats^T grad`` 4-5x
    slower than ``grad^T feats`` (``(100352, 72)`` features, O = 4: 19 against 4.7 ms, one
    thread), and at batch 64 the transposed product needs a transposing copy of its spline
    block. The two orientations are the same product but not always the same bits (MKL
    rounds them differently for some shapes).
    """
    d = spline.shape[1]
    grad_spline = grad_scaler = None
    if _is_basis_major(spline):
        grad_t = grad.t()                                                # (O, N)
        grad_base = grad_t @ feats[:, :d] if lead and need_base else None  # (O, D)
        if need_spline:
            grad_s = grad_t @ feats[:, lead * d:]                         # (O, M*D)
            if scaler is None:  # already the parameter's layout
                grad_spline = grad_s.view(spline.shape[0], -1, d).transpose(1, 2)  # (O, D, M)
            else:
                grad_spline, grad_scaler = _WEIGHT_GRAD(grad_s, spline, scaler,
                                                        compiled=compiled)
        return grad_base, grad_spline, grad_scaler
    grad_weight_t = feats.t() @ grad                                     # ((lead+M)*D, O)
    grad_base = grad_weight_t[:d].t() if lead and need_base else None   # (O, D)
    if need_spline:
        grad_spline, grad_scaler = _WEIGHT_GRAD_T(
            grad_weight_t, spline, scaler, compiled=compiled, lead=lead
        )
    return grad_base, grad_spline, grad_scaler
