"""AF-KAN's per-input basis: the pair functions, closed-form activations and a fused projection.

The basis of one AF-KAN layer is, for input value x and basis index m,

    F_m(x) = func(act(x - low_m), act(high_m - x))

and the global-attention / multistep reductions only ever need linear projections of it,
``R = F @ proj`` with a small ``proj`` of shape (M, r). :class:`ProjectedBasis` computes ``R``
in row chunks and recomputes the basis in the backward pass, so no (B, D, M) tensor is kept
for autograd and every intermediate stays cache-sized. It needs the activation's derivative in
closed form; :func:`closed_form_activation` finds it by comparing the activation module's
values with the known forms (never by name), and the layer falls back to plain autograd when
none matches (parameterised or unusual activations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.nn import functional as F

__all__ = [
    "FUNCS",
    "ClosedForm",
    "ProjectedBasis",
    "closed_form_activation",
    "func_backward",
    "func_value",
]

FUNCS = ("quad1", "quad2", "sum", "prod", "sum_prod", "cubic1", "cubic2")

def func_value(func: str, a: Tensor, b: Tensor) -> Tensor:
    """``func(a, b)`` for one of :data:`FUNCS` (a = act(x - low), b = act(high - x))."""
    if func == "quad1":
        return (a * b).square()
    if func == "quad2":
        return a * b + a.square() + b.square()
    if func == "sum":
        return a + b
    if func == "prod":
        return a * b
    if func == "sum_prod":
        return a + b + a * b
    if func == "cubic1":
        return (a + b) * (a.square() + b.square())
    if func == "cubic2":
        return (a * b) ** 3
    raise ValueError(f"`func` must be one of {', '.join(FUNCS)}, but got func={func!r}.")


def func_backward(func: str, a: Tensor, b: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """``(grad * d func / d a, grad * d func / d b)`` for one of :data:`FUNCS`."""
    if func in ("quad1", "cubic2"):
        p = a * b
        t = grad * p if func == "quad1" else grad * p.square()
        t.mul_(2 if func == "quad1" else 3)
        return t * b, t * a
    if func == "quad2":
        return grad * (b + 2 * a), grad * (a + 2 * b)
    if func == "sum":
        return grad, grad
    if func == "prod":
        return grad * b, grad * a
    if func == "sum_prod":
        return grad * (1 + b), grad * (1 + a)
    if func == "cubic1":
        q, two_ab = a.square() + b.square(), 2 * a * b
        return grad * (q + 2 * a.square() + two_ab), grad * (q + 2 * b.square() + two_ab)
    raise ValueError(f"`func` must be one of {', '.join(FUNCS)}, but got func={func!r}.")


def _silu_backward(g: Tensor, u: Tensor, value: Tensor) -> Tensor:
    return cast(Tensor, torch.ops.aten.silu_backward(g, u))


def _relu_backward(g: Tensor, u: Tensor, value: Tensor) -> Tensor:
    return cast(Tensor, torch.ops.aten.threshold_backward(g, u, 0))


def _identity_backward(g: Tensor, u: Tensor, value: Tensor) -> Tensor:
    return g


def _sigmoid_backward(g: Tensor, u: Tensor, value: Tensor) -> Tensor:
    return cast(Tensor, torch.ops.aten.sigmoid_backward(g, value))


def _tanh_backward(g: Tensor, u: Tensor, value: Tensor) -> Tensor:
    return cast(Tensor, torch.ops.aten.tanh_backward(g, value))


def _gelu_backward(g: Tensor, u: Tensor, value: Tensor) -> Tensor:
    return cast(Tensor, torch.ops.aten.gelu_backward(g, u))


def _identity(u: Tensor) -> Tensor:
    return u


@dataclass(frozen=True)
class ClosedForm:
    """An activation with a fused derivative: ``value(u)`` and ``backward(grad, u, value)``."""

    name: str
    value: Callable[[Tensor], Tensor]
    backward: Callable[[Tensor, Tensor, Tensor], Tensor]


_CLOSED_FORMS = (
    ClosedForm("silu", F.silu, _silu_backward),
    ClosedForm("relu", F.relu, _relu_backward),
    ClosedForm("identity", _identity, _identity_backward),
    ClosedForm("sigmoid", torch.sigmoid, _sigmoid_backward),
    ClosedForm("tanh", torch.tanh, _tanh_backward),
    ClosedForm("gelu", F.gelu, _gelu_backward),
)


def closed_form_activation(act: nn.Module) -> ClosedForm | None:
    """The closed form that reproduces ``act`` (parameter- and buffer-free only), else None.

    The match is by value on a float64 probe grid, so a registered activation is recognised
    whatever its name, and one with different hyperparameters (a GELU with the tanh
    approximation, say) is not mistaken for its neighbour.
    """
    if any(True for _ in act.parameters()) or any(True for _ in act.buffers()):
        return None
    probe = torch.linspace(-6.0, 6.0, 241, dtype=torch.float64)
    try:
        with torch.no_grad():
            reference = act(probe.clone())
    except (RuntimeError, TypeError):
        return None
    if not isinstance(reference, Tensor) or reference.shape != probe.shape:
        return None
    for form in _CLOSED_FORMS:
        value = form.value(probe)
        if torch.allclose(reference.to(torch.float64), value, rtol=1e-9, atol=1e-12):
            return form
    return None


class ProjectedBasis(torch.autograd.Function):
    """``R = func(act(x - low), act(high - x)) @ proj`` in row chunks, basis recomputed backward.

    Shapes: x (N, D), low and high (M,), proj (M, r) -> R (N, D, r). Peak extra memory is a
    few (rows, D, M) tensors whatever N is.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        low: Tensor,
        high: Tensor,
        proj: Tensor,
        func: str,
        act: ClosedForm,
        rows: int,
    ) -> Tensor:
        n, d = x.shape
        out = x.new_empty(n, d, proj.shape[1])                              # (N, D, r)
        for i in range(0, n, rows):
            xc = x[i : i + rows].unsqueeze(-1)                              # (n, D, 1)
            a = act.value(xc - low)                                         # (n, D, M)
            b = act.value(high - xc)                                        # (n, D, M)
            torch.matmul(func_value(func, a, b), proj, out=out[i : i + rows])  # (n, D, r)
        ctx.save_for_backward(x, low, high, proj)
        ctx.func, ctx.act, ctx.rows = func, act, rows  # type: ignore[attr-defined]
        return out

    @staticmethod
    @once_differentiable
    def backward(
        ctx: FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, ...]:
        x, low, high, proj = ctx.saved_tensors  # type: ignore[attr-defined]
        func: str = ctx.func  # type: ignore[attr-defined]
        act: ClosedForm = ctx.act  # type: ignore[attr-defined]
        rows: int = ctx.rows  # type: ignore[attr-defined]
        need_x, need_low, need_high, need_proj = ctx.needs_input_grad[:4]  # type: ignore[attr-defined]
        m = low.shape[0]
        grad_x = torch.empty_like(x) if need_x else None
        grad_low = torch.zeros_like(low) if need_low else None
        grad_high = torch.zeros_like(high) if need_high else None
        grad_proj = torch.zeros_like(proj) if need_proj else None
        proj_t = proj.t()                                                   # (r, M)
        for i in range(0, x.shape[0], rows):
            xc = x[i : i + rows].unsqueeze(-1)                              # (n, D, 1)
            gc = grad[i : i + rows]                                         # (n, D, r)
            u, v = xc - low, high - xc                                      # (n, D, M)
            a, b = act.value(u), act.value(v)                               # (n, D, M)
            if grad_proj is not None:
                f = func_value(func, a, b)                                  # (n, D, M)
                grad_proj += f.reshape(-1, m).t() @ gc.reshape(-1, gc.shape[-1])  # (M, r)
            if grad_x is None and grad_low is None and grad_high is None:
                continue
            ga, gb = func_backward(func, a, b, gc @ proj_t)                 # (n, D, M) each
            gu = act.backward(ga, u, a)                                     # d R / d(x - low)
            gv = act.backward(gb, v, b)                                     # d R / d(high - x)
            if grad_x is not None:
                grad_x[i : i + rows] = (gu - gv).sum(-1)                    # (n, D)
            if grad_low is not None:
                grad_low -= gu.reshape(-1, m).sum(0)                        # (M,)
            if grad_high is not None:
                grad_high += gv.reshape(-1, m).sum(0)                       # (M,)
        return grad_x, grad_low, grad_high, grad_proj, None, None, None
