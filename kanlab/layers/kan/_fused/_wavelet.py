"""Fused kernels of ``wav_kan``: ``psi(t) @ W_w^T + b(x) @ W_b^T`` in one autograd node.

``t = (x_i - tau[i, m]) / sigma[i, m]`` over the ``(N, D, G)`` frame, written input-major
(``(N, D*G)``, the layout of ``weight``), so the layer is two matmuls on stored parameters
(no weight assembly). The forward kernel evaluates the wavelets (and a closed-form base
activation); the backward kernel recomputes ``t``, evaluates ``psi'(t)`` once and reduces it
to the three gradients that depend on it:

    u = dL/dpsi * psi'(t) / sigma                        (N, D, G)
    dL/dx_i = sum_m u[:, i, m] (+ the base branch's b'(x) * dL/db)
    dL/dtau = -sum_n u,    dL/dsigma = -sum_n u * t

where plain autograd tapes about ten ``(N, D, G)`` intermediates of the formula and reduces
the broadcast translation and scale gradients in separate passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx
from torch.nn import functional as F

from kanlab.layers._compile import Kernel, use_compiled
from kanlab.layers.activations._base import ClosedForm
from kanlab.layers.kan._fused._function import (
    FusedFunction,
    closed_form_of,
    keep,
    kept,
    kernels_allowed,
)
from kanlab.layers.kan._wavelets import SLOPES, WAVELETS

__all__ = ["wav_kan"]

Wave = Callable[[Tensor], Tensor]


def _features(
    x: Tensor, translation: Tensor, scale: Tensor, *, form: ClosedForm | None, psi: Wave,
) -> tuple[Tensor, Tensor | None]:
    """``psi((x - tau) / sigma)`` ``(N, D*G)`` and ``form``'s base values ``(N, D)`` (None
    without a closed-form base)."""
    t = (x.unsqueeze(-1) - translation) / scale                          # (N, D, G)
    base = form.value(x) if form is not None else None                   # (N, D)
    return psi(t).reshape(x.shape[0], -1), base                          # (N, D*G)


def _grads(
    x: Tensor,
    grad_psi: Tensor,
    grad_base: Tensor | None,
    base: Tensor | None,
    translation: Tensor,
    inv_scale: Tensor,
    *,
    form: ClosedForm | None,
    slope: Wave,
    need_x: bool,
    need_frame: bool,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Gradients of x (through the wavelets and, with ``form``, the base activation), tau and
    sigma from that of the wavelet features ``(N, D*G)`` and of the base values ``(N, D)``.

    ``inv_scale`` is ``1 / sigma`` ``(D, G)``, computed once outside: per entry, two
    multiplies instead of two divisions (t then differs from the forward's quotient by at
    most a rounding, which moves the gradient by a relative ~1e-7 in float32).
    """
    n, d = x.shape
    t = (x.unsqueeze(-1) - translation) * inv_scale                      # (N, D, G)
    u = grad_psi.view(n, d, -1) * slope(t) * inv_scale                   # (N, D, G)
    grad_x = grad_translation = grad_scale = None
    if need_x:
        grad_x = u.sum(-1)                                               # (N, D)
        if form is not None and grad_base is not None and base is not None:
            grad_x = grad_x + form.backward(grad_base, x, base)
    if need_frame:
        grad_translation = -u.sum(0)                                     # (D, G)
        grad_scale = -(u * t).sum(0)                                     # (D, G)
    return grad_x, grad_translation, grad_scale


_FEATURES = Kernel(_features)
_GRADS = Kernel(_grads)


class WaveletLinear(FusedFunction):
    """``psi(t) @ W_w^T + b(x) @ W_b^T`` in one autograd node.

    ``base`` holds the base-branch values (any activation, on autograd outside) or ``form`` its
    closed form (evaluated in the kernel); with ``base_weight`` None there is no base branch.
    The forward saves the wavelet features for the weight gradient; the backward's one kernel
    gives the gradients of x, the translations and the scales.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        base: Tensor | None,
        base_weight: Tensor | None,
        weight: Tensor,
        translation: Tensor,
        scale: Tensor,
        form: ClosedForm | None,
        psi: Wave,
        slope: Wave,
        compiled: bool,
    ) -> Tensor:
        feats, computed = _FEATURES(
            x, translation, scale, compiled=compiled, form=form, psi=psi
        )                                                                # (N, D*G), (N, D)
        values = computed if computed is not None else base              # (N, D) or None
        y = F.linear(feats, weight)                                      # (N, O)
        if base_weight is not None and values is not None:  # not addmm_: FLOP counters skip it
            y = torch.addmm(y, values, base_weight.t())                  # (N, O)
        keep(ctx, (x, base, base_weight, weight, translation, scale, form, psi, slope, compiled),
             feats, *([] if computed is None else [computed]))
        return y

    @staticmethod
    def expression(
        x: Tensor, base: Tensor | None, base_weight: Tensor | None, weight: Tensor,
        translation: Tensor, scale: Tensor, form: ClosedForm | None, psi: Wave, slope: Wave,
        compiled: bool,
    ) -> Tensor:
        t = (x.unsqueeze(-1) - translation) / scale                      # (N, D, G)
        y = F.linear(psi(t).reshape(x.shape[0], -1), weight)            # (N, O)
        if base_weight is not None:
            if form is not None:
                base = form.value(x)                                     # (N, D)
            if base is not None:
                y = y + F.linear(base, base_weight)
        return y

    @staticmethod
    def fast_backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = grads                                                  # (N, O)
        args, (feats, *computed) = kept(ctx)
        x, base, base_weight, weight, translation, scale, form, _, slope, compiled = args
        values = computed[0] if computed else base                       # (N, D) or None
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        grad_x = grad_base = grad_base_weight = grad_weight = None
        grad_translation = grad_scale = None
        grad_t = grad.t()                                                # (O, N)
        if need[3]:
            grad_weight = grad_t @ feats                                 # (O, D*G)
        if need[2] and values is not None:
            grad_base_weight = grad_t @ values                           # (O, D)
        grad_values = None
        if base_weight is not None and (need[1] or (need[0] and form is not None)):
            grad_values = grad @ base_weight                             # (N, D)
            grad_base = grad_values if need[1] else None
        if need[0] or need[4] or need[5]:
            grad_psi = grad @ weight                                     # (N, D*G)
            grad_x, grad_translation, grad_scale = _GRADS(
                x, grad_psi, grad_values, values, translation, scale.reciprocal(),
                compiled=compiled,
                form=form, slope=slope, need_x=bool(need[0]), need_frame=bool(need[4] or need[5]),
            )
        return (
            grad_x, grad_base, grad_base_weight, grad_weight,
            grad_translation if need[4] else None, grad_scale if need[5] else None,
            None, None, None, None,
        )


class WaveletLayer(Protocol):
    """What :func:`wav_kan` reads from the layer (``WavKANLinear``)."""

    @property
    def num_bases(self) -> int: ...

    @property
    def wavelet(self) -> str: ...

    @property
    def translation(self) -> Tensor: ...

    @property
    def scale(self) -> Tensor: ...

    @property
    def weight(self) -> Tensor: ...

    @property
    def base_weight(self) -> Tensor | None: ...

    @property
    def base_activation(self) -> nn.Module | None: ...

    @property
    def compile_kernels(self) -> bool | None: ...

    def reference_rows(self, x: Tensor) -> Tensor: ...


def wav_kan(layer: WaveletLayer, x: Tensor) -> Tensor:
    """``layer.reference_rows(x)`` for ``x`` ``(N, D)`` by the fused kernels -> ``(N, O)``.

    The base activation runs inside the kernels when it declares a closed form, else on
    autograd before them. Only compiled kernels are worth it here: run eagerly, the kernels'
    backward recomputes the ``(N, D, G)`` terms that autograd keeps from the forward, and
    the formula on autograd was as fast or faster (batch 256 to 4096 at 9 inputs, batch 64
    at 784; ``python -m bench kan_layers --formula``), so a call that would run eager kernels
    (below ``compile_kernels``' switch, or with ``compile_kernels=False``) runs the reference
    forward, as do ``torch.func`` transforms, forward-mode AD and export.
    """
    if not kernels_allowed() or not use_compiled(
            layer.compile_kernels, x.numel() * layer.num_bases, caller=layer,
            shape=tuple(x.shape)):
        return layer.reference_rows(x)
    form = values = base_weight = None
    if layer.base_weight is not None and layer.base_activation is not None:
        form = closed_form_of(layer.base_activation)
        values = layer.base_activation(x) if form is None else None
        base_weight = layer.base_weight
    out = WaveletLinear.apply(
        x, values, base_weight, layer.weight, layer.translation, layer.scale, form,
        WAVELETS[layer.wavelet], SLOPES[layer.wavelet], True,
    )
    assert isinstance(out, Tensor)
    return out
