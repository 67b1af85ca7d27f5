"""The autograd side of every fused kernel: a fast first-order backward, exact beyond it.

A fused op is a :class:`FusedFunction` subclass with three static methods over the same
positional arguments (tensors and static options):

* ``forward(ctx, *args)``: the fast forward kernels; it calls :func:`keep` once to save its
  inputs (and any extra tensors its backward reuses);
* ``fast_backward(ctx, *grads)``: the hand-derived first-order backward (no autograd);
* ``expression(*args)``: the same output written in differentiable torch ops.

:meth:`FusedFunction.backward` runs ``fast_backward`` when the caller asked for plain
gradients. When it asked for gradients that are themselves differentiable
(``create_graph=True``: double backward, ``gradgradcheck``, Hessian-vector products,
physics-informed losses), autograd runs the backward with grad mode on; the gradients are then
those of ``expression`` on the saved inputs, taken on autograd with ``create_graph=True``, so
they are differentiable again, to any order (``expression`` is plain autograd all the way
down). Same values as the fast backward up to float rounding, never an error, never a
silent zero.

:func:`kernels_allowed` is False under ``torch.func`` transforms (``vmap``, ``grad``,
``jacrev``, ``jacfwd``, ``hessian``) and forward-mode AD (``torch.autograd.forward_ad``):
an ``autograd.Function`` without ``setup_context``/``jvp`` cannot take part in those, so the
layers' entry points run the layer's reference forward instead (same values).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from kanlab.layers._compile import kernels_allowed
from kanlab.layers.activations._base import Activation, ClosedForm

__all__ = ["FusedFunction", "closed_form_of", "keep", "kept", "kernels_allowed", "vjp"]


def closed_form_of(act: nn.Module | None) -> ClosedForm | None:
    """The closed form an activation declares (``Activation.closed_form``), else None.

    Identified by registration, never by probing values: kanlab's SiLU, ReLU, GELU, sigmoid,
    tanh and identity declare one; any other module (a plain ``torch.nn`` class, a
    parameterised activation) has none, and the kernels take its values from autograd.
    """
    return act.closed_form() if isinstance(act, Activation) else None


def keep(ctx: FunctionCtx, args: tuple[Any, ...], *extra: Tensor) -> None:
    """Save a fused op's arguments (tensors via ``save_for_backward``) and ``extra`` tensors."""
    tensors = [a for a in args if isinstance(a, Tensor)]
    ctx.save_for_backward(*tensors, *extra)
    ctx.fused_args = tuple(None if isinstance(a, Tensor) else a for a in args)  # type: ignore[attr-defined]
    ctx.fused_slots = tuple(isinstance(a, Tensor) for a in args)  # type: ignore[attr-defined]


def kept(ctx: FunctionCtx) -> tuple[tuple[Any, ...], tuple[Tensor, ...]]:
    """The arguments saved by :func:`keep` (in their order) and its ``extra`` tensors."""
    saved = iter(ctx.saved_tensors)  # type: ignore[attr-defined]
    args = tuple(
        next(saved) if slot else arg
        for arg, slot in zip(ctx.fused_args, ctx.fused_slots, strict=True)  # type: ignore[attr-defined]
    )
    return args, tuple(saved)


class FusedFunction(torch.autograd.Function):
    """Base of the fused ops (see the module docstring for the three methods to define)."""

    @staticmethod
    def fast_backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        raise NotImplementedError

    @staticmethod
    def expression(*args: Any) -> Tensor | tuple[Tensor, ...]:
        raise NotImplementedError

    @classmethod
    def backward(cls, ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        if not torch.is_grad_enabled():  # plain gradients: the hand-derived kernels
            return cls.fast_backward(ctx, *grads)
        return _expression_grads(cls.expression, ctx, grads)


def _expression_grads(
    expression: Any, ctx: Any, grads: tuple[Tensor, ...]
) -> tuple[Tensor | None, ...]:
    """Partial derivatives of ``expression(*saved args)``, differentiable to any order."""
    args, _ = kept(ctx)
    wanted = [
        i for i, a in enumerate(args) if isinstance(a, Tensor) and ctx.needs_input_grad[i]
    ]
    result: list[Tensor | None] = [None] * len(args)
    if not wanted:
        return tuple(result)

    def fn(*tensors: Tensor) -> tuple[Tensor, ...]:
        full = list(args)
        for i, t in zip(wanted, tensors, strict=True):
            full[i] = t
        out = expression(*full)
        return out if isinstance(out, tuple) else (out,)

    got = vjp(fn, [args[i] for i in wanted], list(grads))
    for i, g in zip(wanted, got, strict=True):
        result[i] = g
    return tuple(result)


def vjp(fn: Any, primals: list[Tensor], cotangents: list[Tensor]) -> tuple[Tensor, ...]:
    """``(d fn / d primals)^T cotangents`` as partial derivatives, differentiable to any order.

    Each evaluation treats the primals as independent leaves (an input computed from another
    input, e.g. FastKAN's ``z = LayerNorm(x)`` next to ``x``, is not differentiated through
    twice), and the result's own backward is again a :func:`vjp` (of the map
    ``(primals, cotangents) -> vjp``), so gradients of gradients of ... stay exact.
    """
    out: tuple[Tensor, ...] = _VJP.apply(fn, len(primals), *primals, *cotangents)
    return out


class _VJP(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, fn: Any, n: int, *tensors: Tensor) -> tuple[Tensor, ...]:
        ctx.fn, ctx.n = fn, n
        ctx.save_for_backward(*tensors)
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_() for t in tensors[:n]]
            grads = _partials(fn, leaves, list(tensors[n:]), create_graph=False)
        return tuple(g.detach() for g in grads)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        tensors, fn, n = ctx.saved_tensors, ctx.fn, ctx.n

        def partials(*ts: Tensor) -> tuple[Tensor, ...]:
            return _partials(fn, list(ts[:n]), list(ts[n:]), create_graph=True)

        return (None, None, *vjp(partials, list(tensors), list(grads)))


def _partials(
    fn: Any, leaves: list[Tensor], cotangents: list[Tensor], *, create_graph: bool
) -> tuple[Tensor, ...]:
    """``autograd.grad`` of ``fn(*leaves)`` with ``cotangents``; zeros where unused."""
    outs = fn(*leaves)
    pairs = [(o, c) for o, c in zip(outs, cotangents, strict=True) if o.requires_grad]
    got: tuple[Tensor | None, ...] = (None,) * len(leaves)
    if pairs:
        got = torch.autograd.grad(
            [o for o, _ in pairs], leaves, [c for _, c in pairs],
            create_graph=create_graph, allow_unused=True,
        )
    return tuple(torch.zeros_like(t) if g is None else g for g, t in zip(got, leaves, strict=True))
