"""Fused kernels of ``fast_kan``: ``[b(x) | phi(z)] @ [W_b | W_s]^T + c`` in one node.

``phi_j(z) = exp(-((z - u_j) / h)^2)``, written basis-major next to the base branch
(``_weight.py``), so that the layer is one matmul. Each kernel is a handful of passes over the
whole ``(N, G, D)`` basis (broadcast over the centres, not a loop of small ops per centre);
the backward reads the bumps and base values from the features the forward saved for the
weight gradient.
"""

from __future__ import annotations

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
from kanlab.layers.kan._fused._weight import assemble_weight, weight_expression, weight_grads

__all__ = ["fast_kan"]


def _features(
    z: Tensor,
    x: Tensor,
    base: Tensor | None,
    centers: Tensor,
    *,
    form: ClosedForm | None,
    inv_width: float,
) -> Tensor:
    """``[b(x) | phi_0(z) | .. | phi_{G-1}(z)]``, basis-major: ``(N, (1+G) * D)``."""
    if form is not None:
        base = form.value(x)                                             # (N, D)
    d = (z.unsqueeze(1) - centers.view(1, -1, 1)) * inv_width           # (N, G, D)
    phi = torch.exp(-d.square())                                         # (N, G, D)
    if base is not None:
        phi = torch.cat([base.unsqueeze(1), phi], 1)                     # (N, 1+G, D)
    return phi.reshape(z.shape[0], -1)                                   # (N, ([1+]G)*D)


def _features_eager(
    z: Tensor,
    x: Tensor,
    base: Tensor | None,
    centers: Tensor,
    *,
    form: ClosedForm | None,
    inv_width: float,
) -> Tensor:
    """:func:`_features` as five passes over the whole ``(N, G, D)`` basis, written in place
    into the output buffer (same operations per entry, so the same values)."""
    n, dim = z.shape
    g = centers.shape[0]
    if form is not None:
        base = form.value(x)                                             # (N, D)
    lead = int(base is not None)
    out = z.new_empty(n, lead + g, dim)                                  # (N, [1+]G, D)
    if base is not None:
        out[:, 0].copy_(base)
    phi = out[:, lead:]                                                  # (N, G, D)
    torch.sub(z.unsqueeze(1), centers.view(1, g, 1), out=phi)
    phi.mul_(inv_width).square_().neg_().exp_()
    return out.view(n, -1)                                               # (N, ([1+]G)*D)


def _grads(
    z: Tensor,
    x: Tensor,
    grad: Tensor,
    feats: Tensor,
    centers: Tensor,
    *,
    form: ClosedForm | None,
    inv_width: float,
    lead: int,
    grad_lead: int,
) -> tuple[Tensor, Tensor | None]:
    """Gradients of z and (through a closed-form base) x from that of the features.

    ``dphi_j/dz = -2/h * d_j * phi_j`` with ``d_j = (z - u_j) / h``; the bumps ``phi_j`` (and
    the base values) are read from the saved features (``lead`` base slices), not recomputed.
    ``grad`` holds the base slice's gradient too when ``grad_lead`` is 1 (then x's is
    computed), only the bumps' when it is 0.
    """
    n, dim = z.shape
    g = centers.shape[0]
    gf = grad.view(n, grad_lead + g, dim)                                # (N, [1+]G, D)
    saved = feats.view(n, lead + g, dim)                                 # (N, [1+]G, D)
    d = (z.unsqueeze(1) - centers.view(1, g, 1)) * inv_width            # (N, G, D)
    grad_z = (gf[:, grad_lead:] * saved[:, lead:] * (-2 * inv_width) * d).sum(1)  # (N, D)
    grad_x = (form.backward(gf[:, 0], x, saved[:, 0])
              if form is not None and lead and grad_lead else None)
    return grad_z, grad_x


def _grads_eager(
    z: Tensor,
    x: Tensor,
    grad: Tensor,
    feats: Tensor,
    centers: Tensor,
    *,
    form: ClosedForm | None,
    inv_width: float,
    lead: int,
    grad_lead: int,
) -> tuple[Tensor, Tensor | None]:
    """:func:`_grads` in five passes over the ``(N, G, D)`` basis and ``G`` in-place adds of
    ``(N, D)`` slices (summed in centre order from zero, so the gradient has the bits of the
    per-centre loop this replaced)."""
    n, dim = z.shape
    g = centers.shape[0]
    gf = grad.view(n, grad_lead + g, dim)                                # (N, [1+]G, D)
    saved = feats.view(n, lead + g, dim)                                 # (N, [1+]G, D)
    d = torch.sub(z.unsqueeze(1), centers.view(1, g, 1)).mul_(inv_width)  # (N, G, D)
    t = torch.mul(gf[:, grad_lead:], saved[:, lead:]).mul_(-2 * inv_width).mul_(d)  # (N, G, D)
    grad_z = torch.zeros_like(z)                                         # (N, D)
    for j in range(g):
        grad_z.add_(t[:, j])
    grad_x = (form.backward(gf[:, 0], x, saved[:, 0])
              if form is not None and lead and grad_lead else None)
    return grad_z, grad_x


_FEATURES = Kernel(_features, eager=_features_eager)
_GRADS = Kernel(_grads, eager=_grads_eager)


class RBFLinear(FusedFunction):
    """``[b(x) | phi(z)] @ [W_b | W_s]^T + c`` in one autograd node (see ``_weight.py``).

    ``base`` holds the base-branch values (any activation, on autograd outside) or ``form`` its
    closed form (evaluated in the kernel); with neither, and ``base_weight`` None, there is no
    base branch. The weight gradients come from :func:`weight_grads`; the input gradients
    read the bumps from the saved features.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        z: Tensor,
        x: Tensor,
        base: Tensor | None,
        base_weight: Tensor | None,
        spline: Tensor,
        bias: Tensor | None,
        centers: Tensor,
        form: ClosedForm | None,
        inv_width: float,
        compiled: bool,
    ) -> Tensor:
        feats = _FEATURES(
            z, x, base, centers, compiled=compiled, form=form, inv_width=inv_width
        )                                                                # (N, ([1+]G)*D)
        weight = assemble_weight(base_weight, spline, None)             # (O, ([1+]G)*D)
        keep(ctx, (z, x, base, base_weight, spline, bias, centers, form, inv_width, compiled),
             feats, weight)
        return F.linear(feats, weight, bias)

    @staticmethod
    def expression(
        z: Tensor, x: Tensor, base: Tensor | None, base_weight: Tensor | None, spline: Tensor,
        bias: Tensor | None, centers: Tensor, form: ClosedForm | None, inv_width: float,
        compiled: bool,
    ) -> Tensor:
        phi = torch.exp(-((z.unsqueeze(1) - centers[:, None]) * inv_width).square())  # (N, G, D)
        if form is not None:
            base = form.value(x)                                         # (N, D)
        if base is not None:
            phi = torch.cat([base.unsqueeze(1), phi], 1)                 # (N, 1+G, D)
        weight = weight_expression(base_weight, spline, None)             # (O, ([1+]G)*D)
        return F.linear(phi.reshape(z.shape[0], -1), weight, bias)      # (N, O)

    @staticmethod
    def fast_backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = grads
        args, (feats, weight) = kept(ctx)
        z, x, _, base_weight, spline, _, centers, form, inv_width, compiled = args
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        lead, d = int(base_weight is not None), z.shape[1]
        grad_z = grad_x = grad_base = grad_base_weight = grad_spline = grad_bias = None
        # the base slice's gradient only where x's or the base values' is wanted (not for a
        # first layer, whose input is data): else its 1/(1+G) of the GEMM is skipped
        through_form = need[1] and form is not None                     # x's gradient via b(x)
        base = int(bool(lead and (need[2] or through_form)))
        if need[0] or base:
            grad_feats = grad @ weight[:, (lead - base) * d:]            # (N, ([1+]G)*D)
            if need[2]:
                grad_base = grad_feats[:, :d]
            if need[0] or through_form:
                grad_z, grad_x = _GRADS(
                    z, x, grad_feats, feats, centers, compiled=compiled, form=form,
                    inv_width=inv_width, lead=lead, grad_lead=base,
                )
        if need[3] or need[4]:
            grad_base_weight, grad_spline, _ = weight_grads(
                grad, feats, spline, None, lead=lead, need_base=need[3], need_spline=need[4],
                compiled=compiled,
            )
        if need[5]:
            grad_bias = grad.sum(0)
        return (
            grad_z if need[0] else None, grad_x if need[1] else None, grad_base,
            grad_base_weight, grad_spline, grad_bias, None, None, None, None,
        )


class RBFLayer(Protocol):
    """What :func:`fast_kan` reads from the layer (``FastKANLinear``)."""

    @property
    def in_features(self) -> int: ...

    @property
    def out_features(self) -> int: ...

    @property
    def grid_size(self) -> int: ...

    @property
    def num_bases(self) -> int: ...

    @property
    def inv_width(self) -> float: ...

    @property
    def centers(self) -> Tensor: ...

    @property
    def norm(self) -> nn.Module | None: ...

    @property
    def base(self) -> nn.Linear | None: ...

    @property
    def base_activation(self) -> nn.Module | None: ...

    @property
    def spline_weight(self) -> Tensor: ...

    @property
    def compile_kernels(self) -> bool | None: ...

    def reference_rows(self, x: Tensor) -> Tensor: ...


def fast_kan(layer: RBFLayer, x: Tensor) -> Tensor:
    """``layer.reference_rows(x)`` for ``x`` ``(N, D)`` by the fused kernels -> ``(N, O)``.

    The LayerNorm runs on autograd before the kernel; the base activation inside it when it
    declares a closed form. Under ``torch.func`` transforms or forward-mode AD the reference
    forward runs instead.
    """
    if not kernels_allowed():
        return layer.reference_rows(x)
    z = layer.norm(x) if layer.norm is not None else x                   # (N, D)
    form = values = base_weight = bias = None
    if layer.base is not None and layer.base_activation is not None:
        form = closed_form_of(layer.base_activation)
        values = layer.base_activation(x) if form is None else None
        base_weight, bias = layer.base.weight, layer.base.bias
    out = RBFLinear.apply(
        z, x, values, base_weight, layer.spline_weight, bias, layer.centers, form, layer.inv_width,
        use_compiled(layer.compile_kernels, x.numel() * layer.num_bases, caller=layer,
                     shape=tuple(x.shape)),
    )
    assert isinstance(out, Tensor)
    return out
