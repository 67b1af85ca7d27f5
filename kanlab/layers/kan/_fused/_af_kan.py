"""Fused kernels of ``af_kan``: the reduced z of global_attn and multistep, F never stored.

The basis of one AF-KAN layer is, for input value x and basis index m,

    F_m(x) = func(act(x - low_m), act(high_m - x))

and the global-attention / multistep reductions only ever need linear projections of it,
``R = F @ w`` with a small ``w`` of shape (M, r), and its plain sum over m.
:class:`ReducedBasis` computes ``R`` one basis index at a time on (B, D) slices, then the
attention (or the multistep bias) on top, and recomputes the basis in the backward pass, so no
(B, D, M) tensor exists; its forward and backward kernels are plain tensor functions that
``torch.compile`` fuses into one loop each (``_compile.py``). Folding the attention into the
kernels matters at small batches: at batch 64 its six eager ops per layer and their autograd
nodes cost about a tenth of a training step (``python -m bench train_throughput``).
It needs the activation's derivative in closed form (declared by the activation,
``Activation.closed_form``); without one the layer's reference runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from kanlab.layers._compile import Kernel, use_compiled
from kanlab.layers.activations._base import ClosedForm
from kanlab.layers.kan._af_kan_funcs import FUNCS, func_value
from kanlab.layers.kan._fused._function import (
    FusedFunction,
    closed_form_of,
    keep,
    kept,
    kernels_allowed,
)

__all__ = ["ReducedBasis", "af_kan", "func_backward", "fused_applies"]

def func_backward(func: str, a: Tensor, b: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """``(grad * d func / d a, grad * d func / d b)`` for one of :data:`FUNCS`."""
    if func in ("quad1", "cubic2"):
        p = a * b
        t = grad * (2 * p) if func == "quad1" else grad * (3 * p.square())
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


_SIGMOID_GATED = ("silu", "sigmoid")
_EXP_SAFE = 80.0  # |phase| bound under which e^{-x} e^{low} cannot overflow where it matters


def _pair_fn(
    x: Tensor, low: Tensor, high: Tensor, act: ClosedForm, shared_exp: bool
) -> Callable[[int], tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor | None]]:
    """``m -> (u, v, act(u), act(v), sigmoid(u), sigmoid(v))`` with u = x - low_m, v = high_m - x.

    With ``shared_exp`` (SiLU or sigmoid, phases within +-80) the 2M sigmoids per input share
    two exponentials: sigmoid(x - low_m) = 1 / (1 + e^{-x} e^{low_m}) and sigmoid(high_m - x) =
    1 / (1 + e^{x} e^{-high_m}); an over- or underflow of e^{+-x} then only happens where the
    sigmoid is saturated anyway. Otherwise the sigmoid entries are None.
    """
    if shared_exp:
        e_neg, e_pos = torch.exp(-x), torch.exp(x)                      # (N, D)
        e_low, e_high = torch.exp(low), torch.exp(-high)                # (M,)

    def pair(m: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
        u, v = x - low[m], high[m] - x                                  # (N, D)
        if not shared_exp:
            return u, v, act.value(u), act.value(v), None, None
        su = torch.reciprocal(1 + e_neg * e_low[m])
        sv = torch.reciprocal(1 + e_pos * e_high[m])
        if act.name == "silu":
            return u, v, u * su, v * sv, su, sv
        return u, v, su, sv, su, sv

    return pair


def _act_grad(act: ClosedForm, grad: Tensor, u: Tensor, value: Tensor, s: Tensor | None) -> Tensor:
    """``grad * act'(u)``, from the sigmoid ``s`` of ``u`` when the pair function provides it."""
    if s is None:
        return act.backward(grad, u, value)
    if act.name == "silu":
        return grad * (s * (1 + u * (1 - s)))
    return grad * (s * (1 - s))


def _project(
    x: Tensor, low: Tensor, high: Tensor, weight: Tensor, *, func: str, act: ClosedForm,
    with_sum: bool, shared_exp: bool,
) -> tuple[Tensor, ...]:
    """Forward kernel: ``[sum_m F_m] + [sum_m F_m * weight[m, k] for k]``, on (N, D) slices."""
    pair = _pair_fn(x, low, high, act, shared_exp)
    outs: list[Tensor] = []
    for m in range(low.shape[0]):
        _, _, a, b, _, _ = pair(m)
        f = func_value(func, a, b)                                      # (N, D)
        terms = ([f] if with_sum else []) + [f * weight[m, k] for k in range(weight.shape[1])]
        outs = terms if m == 0 else [total + term for total, term in zip(outs, terms, strict=True)]
    return tuple(outs)


def _project_backward(
    x: Tensor,
    low: Tensor,
    high: Tensor,
    weight: Tensor,
    grads: tuple[Tensor, ...],
    *,
    func: str,
    act: ClosedForm,
    with_sum: bool,
    shared_exp: bool,
    need_x: bool,
    need_phases: bool,
    need_weight: bool,
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """Backward kernel: gradients of ``sum_k <grads[k], R_k>`` for x, low, high and weight."""
    pair = _pair_fn(x, low, high, act, shared_exp)
    grad_x: Tensor | None = None
    grad_low: list[Tensor] = []
    grad_high: list[Tensor] = []
    grad_weight: list[Tensor] = []
    weighted = grads[1:] if with_sum else grads                         # one per weight column
    for m in range(low.shape[0]):
        u, v, a, b, su, sv = pair(m)                                    # (N, D) each
        if need_weight:
            f = func_value(func, a, b)
            grad_weight.extend((g * f).sum() for g in weighted)         # r scalars
        if not (need_x or need_phases):
            continue
        gf = [grads[0]] if with_sum else []
        gf += [g * weight[m, k] for k, g in enumerate(weighted)]
        ga, gb = func_backward(func, a, b, sum(gf[1:], gf[0]))        # dL/dF_m: (N, D)
        gu = _act_grad(act, ga, u, a, su)                               # dL/d(x - low_m)
        gv = _act_grad(act, gb, v, b, sv)                               # dL/d(high_m - x)
        if need_x:
            grad_x = gu - gv if grad_x is None else grad_x + (gu - gv)
        if need_phases:
            grad_low.append(-gu.sum())
            grad_high.append(gv.sum())
    return (
        grad_x,
        torch.stack(grad_low) if need_phases else None,                 # (M,)
        torch.stack(grad_high) if need_phases else None,                # (M,)
        torch.stack(grad_weight).view(-1, weight.shape[1]) if need_weight else None,  # (M, r)
    )


def _reduce(
    x: Tensor, low: Tensor, high: Tensor, weight: Tensor, bias: Tensor,
    temperature: Tensor | None, *, func: str, act: ClosedForm, with_sum: bool, shared_exp: bool,
) -> tuple[Tensor, ...]:
    """Forward kernel: ``(z, sum_m F_m, score, attn)`` for global_attn (``with_sum``), ``(z,)``
    for multistep (z = score), ``score = F @ weight + bias``; the layer's ops in its order."""
    moments = _project(x, low, high, weight, func=func, act=act, with_sum=with_sum,
                       shared_exp=shared_exp)                           # ([sum F], F w)
    score = moments[-1] + bias                                          # (N, D)
    if not with_sum:
        return (score,)
    assert temperature is not None
    attn = torch.softmax(score * temperature.clamp(min=1.0).reciprocal(), dim=-1)  # over D
    return moments[0] * attn, moments[0], score, attn


def _reduce_backward(
    x: Tensor,
    low: Tensor,
    high: Tensor,
    weight: Tensor,
    temperature: Tensor | None,
    grad: Tensor,
    saved: tuple[Tensor, ...],
    *,
    func: str,
    act: ClosedForm,
    with_sum: bool,
    shared_exp: bool,
    need_x: bool,
    need_phases: bool,
    need_weight: bool,
) -> tuple[Tensor | None, ...]:
    """Backward kernel: ``(x, low, high, weight, bias, temperature)`` gradients of
    ``<grad, z>``, then dL/d(score).

    The attention's part takes autograd's formulas op for op (``MulBackward0``,
    ``_softmax_backward_data``, ``ReciprocalBackward0``, ``ClampBackward1``, the broadcast
    sums), so run eagerly it gives the bits of the unfused ops.
    """
    if with_sum:
        assert temperature is not None
        total, score, attn = saved                                      # (N, D) each
        inv = temperature.clamp(min=1.0).reciprocal()
        grad_logits = torch._softmax_backward_data(grad * total, attn, -1, attn.dtype)
        grad_score = grad_logits * inv                                  # (N, D)
        grad_inv = (grad_logits * score).sum((0, 1))
        grad_temperature = torch.where(temperature >= 1.0, -grad_inv * (inv * inv), 0.0)
        grads: tuple[Tensor, ...] = (grad * attn, grad_score)           # d[sum F], d[F w]
    else:
        grad_score, grad_temperature, grads = grad, None, (grad,)
    grad_x, grad_low, grad_high, grad_weight = _project_backward(
        x, low, high, weight, grads, func=func, act=act, with_sum=with_sum,
        shared_exp=shared_exp, need_x=need_x, need_phases=need_phases, need_weight=need_weight,
    )
    return (grad_x, grad_low, grad_high, grad_weight, grad_score.sum((0, 1)), grad_temperature,
            grad_score)


def _shares_exp(x: Tensor, low: Tensor, high: Tensor, act: ClosedForm, compiled: bool) -> bool:
    """Whether the kernels use the shared-exponential sigmoids (compiled CPU kernels only: on
    CUDA the kernels are memory-bound, and eagerly the extra ops cost more than the exps).
    The phases' bound is read as two host lists, not a chain of tensor ops and a scalar read."""
    return (
        compiled
        and act.name in _SIGMOID_GATED
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and max(map(abs, low.tolist() + high.tolist())) <= _EXP_SAFE
    )


_REDUCE = Kernel(_reduce)
_REDUCE_BACKWARD = Kernel(_reduce_backward)
_PROJECT_BACKWARD = Kernel(_project_backward)


class ReducedBasis(FusedFunction):
    """AF-KAN's reduced ``z`` for global_attn and multistep, the basis F never stored.

    ``F_m = func(act(x - low_m), act(high_m - x))``, ``score = F @ weight + bias``;
    global_attn (``with_sum``): ``z = (sum_m F_m) softmax_D(score / max(temperature, 1))``,
    multistep: ``z = score``. Shapes: x (N, D), low and high (M,), weight (M, 1), bias and
    temperature () (temperature None for multistep) -> z (N, D). One forward kernel (the
    projection loops over the M basis indices on (N, D) slices, then the attention) and, for
    training, one backward kernel for x, phases, bias and temperature plus one for the weight
    (eagerly, or each fused into one loop by ``torch.compile`` when ``compiled``), so no
    (N, D, M) tensor exists and autograd saves the inputs and three (N, D) tensors.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        low: Tensor,
        high: Tensor,
        weight: Tensor,
        bias: Tensor,
        temperature: Tensor | None,
        func: str,
        act: ClosedForm,
        with_sum: bool,
        compiled: bool,
    ) -> Tensor:
        shared_exp = _shares_exp(x, low, high, act, compiled)
        out: tuple[Tensor, ...] = _REDUCE(
            x, low, high, weight, bias, temperature, compiled=compiled, func=func, act=act,
            with_sum=with_sum, shared_exp=shared_exp,
        )
        z, *saved = out
        keep(ctx, (x, low, high, weight, bias, temperature, func, act, with_sum, compiled),
             *saved)
        ctx.shared_exp = shared_exp  # type: ignore[attr-defined]
        return z

    @staticmethod
    def expression(
        x: Tensor, low: Tensor, high: Tensor, weight: Tensor, bias: Tensor,
        temperature: Tensor | None, func: str, act: ClosedForm, with_sum: bool, compiled: bool,
    ) -> Tensor:
        return _reduce(x, low, high, weight, bias, temperature, func=func, act=act,
                       with_sum=with_sum, shared_exp=False)[0]

    @staticmethod
    def fast_backward(ctx: FunctionCtx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (x, low, high, weight, _, temperature, func, act, with_sum, compiled), saved = kept(ctx)
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        need_x, need_phases, need_weight = need[0], need[1] or need[2], need[3]
        opts = {
            "func": func, "act": act, "with_sum": with_sum,
            "shared_exp": ctx.shared_exp,  # type: ignore[attr-defined]
        }
        # Compiled, the weight's sums get a kernel of their own: fused with the rest, Inductor
        # stores per-m (N, D) intermediates for them and the backward runs ~3x slower.
        split = compiled and need_weight
        *out, grad_score = _REDUCE_BACKWARD(
            x, low, high, weight, temperature, grads[0], saved, compiled=compiled,
            need_x=need_x, need_phases=need_phases, need_weight=need_weight and not split,
            **opts,
        )
        if split:
            out[3] = _PROJECT_BACKWARD(
                x, low, high, weight, (grad_score,), compiled=True, need_x=False,
                need_phases=False, need_weight=True, **{**opts, "with_sum": False},
            )[3]
        return (*(g if n else None for g, n in zip(out, need[:6], strict=True)),
                None, None, None, None)


class AttentionLayer(Protocol):
    """What :func:`af_kan` reads from the layer (``AFKANLinear``)."""

    @property
    def method(self) -> str: ...

    @property
    def func(self) -> str: ...

    @property
    def func_norm(self) -> str: ...

    @property
    def num_bases(self) -> int: ...

    @property
    def base_activation(self) -> nn.Module: ...

    @property
    def low(self) -> Tensor: ...

    @property
    def high(self) -> Tensor: ...

    @property
    def score_weight(self) -> Tensor | None: ...

    @property
    def score_bias(self) -> Tensor | None: ...

    @property
    def temperature(self) -> Tensor | None: ...

    @property
    def compile_kernels(self) -> bool | None: ...

    def reference_rows(self, x: Tensor) -> Tensor: ...


def fused_applies(layer: AttentionLayer) -> bool:
    """Whether the layer's options have a fused path (a reduction linear in F, no rescaling
    of F, an activation with a declared closed form)."""
    return (
        layer.method != "spatial_attn"
        and layer.func_norm == "none"
        and closed_form_of(layer.base_activation) is not None
    )


def af_kan(layer: AttentionLayer, x: Tensor) -> Tensor:
    """``layer.reference_rows(x)`` (the reduced z) for ``x`` ``(N, D)`` -> ``(N, D)``.

    Fused for the global_attn and multistep reductions, which are linear in F, with
    ``func_norm="none"`` and an activation that declares a closed form; otherwise, and under
    ``torch.func`` transforms or forward-mode AD, the reference runs.
    """
    act = closed_form_of(layer.base_activation)
    if act is None or not fused_applies(layer) or not kernels_allowed():
        return layer.reference_rows(x)
    assert layer.score_weight is not None and layer.score_bias is not None
    z: Tensor = ReducedBasis.apply(
        x, layer.low, layer.high, layer.score_weight.unsqueeze(-1), layer.score_bias,
        layer.temperature, layer.func, act, layer.method == "global_attn",
        use_compiled(layer.compile_kernels, x.numel() * layer.num_bases, caller=layer,
                     shape=tuple(x.shape)),
    )                                                                   # (N, D)
    return z
