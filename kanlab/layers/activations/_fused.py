"""Fused elementwise activations with one learnable scalar (CRReLU, EAFO): one pass each way.

Written as a chain of tensor ops, an activation such as CRReLU (``relu(x) + eps * x *
exp(-x^2 / 2)``) runs one memory pass and allocates one full-size tensor per op, and autograd
saves most of them for a backward that is a chain again: 3x to 40x the cost of a ReLU on a
large tensor. Here an activation is a :class:`PointwiseForm`, its value and its closed-form
gradients as two plain tensor functions; :func:`apply` runs them in one
``autograd.Function`` that saves only its inputs. The two functions are run

* through ``torch.compile`` (one fused loop each way: Inductor C++/OpenMP on CPU, Triton on
  CUDA) with the KAN kernels' policy and fallback (``compile_kernels``, ``KANLAB_COMPILE``;
  one warning and eager from then on if compilation fails): from
  :data:`~kanlab.layers._compile.AUTO_MIN_ENTRIES` elements on, or once the module has done
  about one compilation's worth of eager work at that input shape (:func:`use_compiled_for`:
  the activations of a small ViT's MLP blocks, ``(128, 50, 128)`` at batch 128, switch after
  ~300 calls), or
* eagerly as written: still only the inputs are saved, and the backward is one expression
  instead of autograd's replay of every op. (Slicing the eager chain into cache-sized pieces
  was tried and dropped: each small op's parallel region costs more than the memory traffic
  it saves when the CPU is shared.)

Higher-order gradients stay exact: when autograd asks for a differentiable backward
(``create_graph=True``: double backward, gradient penalties, ``gradgradcheck``) the gradient
function runs on autograd, uncompiled, so it is differentiated again like any tensor code.
Under ``torch.func`` transforms, forward-mode AD and inside a user's own ``torch.compile``
region the modules run their reference expression (:func:`fused_allowed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from kanlab.layers._compile import Kernel, kernels_allowed, use_compiled

__all__ = ["ELEMENT_COST", "PointwiseForm", "apply", "fused_allowed", "use_compiled_for"]

ELEMENT_COST = 4
"""What one element of an eager fused activation costs beyond the compiled kernels, in the
KAN basis entries :func:`~kanlab.layers._compile.use_compiled` counts (~3.5 ns each on CPU):
forward + backward of CRReLU and EAFO (relu, softplus, tanh, sigmoid bases) on 819,200
elements, a small ViT block's MLP activation at batch 128, one thread, took 7.2-28.8 ms eager
and 1.6-10.7 ms compiled (``python -m bench activations --rows=6400 --cols=128`` with
``KANLAB_COMPILE=0`` / ``1``; ``results/bench/avx512/vit-shape-*``): 7-22 ns per element."""

Grads = tuple[Tensor, Tensor | None]


@dataclass(frozen=True, eq=False)
class PointwiseForm:
    """An elementwise activation ``y = value(x, eps, *extra)`` and its closed-form gradients.

    ``grads(g, x, eps, *extra, need_eps=...)`` returns ``(g * dy/dx, sum(g * dy/deps))`` (the
    second None when ``need_eps`` is False). Both are plain differentiable tensor code; ``eps``
    and ``extra`` are 0-d tensors. Forms are compared by identity, and :func:`apply` compiles
    one kernel per form, so build each configuration's form once (cache it).
    """

    name: str
    value: Callable[..., Tensor]
    grads: Callable[..., Grads]


def fused_allowed() -> bool:
    """The fused op may run: :func:`kernels_allowed` and not inside a ``torch.compile`` trace."""
    return kernels_allowed() and not torch.compiler.is_compiling()


def _forward(x: Tensor, eps: Tensor, *extra: Tensor, form: PointwiseForm) -> Tensor:
    return form.value(x, eps, *extra)


def _backward(
    g: Tensor, x: Tensor, eps: Tensor, *extra: Tensor, form: PointwiseForm, need_eps: bool
) -> Grads:
    return form.grads(g, x, eps, *extra, need_eps=need_eps)


_FORWARD = Kernel(_forward)
_BACKWARD = Kernel(_backward)


class _PointwiseFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, eps: Tensor, form: PointwiseForm, compiled: bool, *extra: Tensor
    ) -> Tensor:
        ctx.save_for_backward(x, eps, *extra)
        ctx.form, ctx.compiled = form, compiled
        y: Tensor = _FORWARD(x.reshape(-1), eps, *extra, compiled=compiled, form=form)  # (n,)
        return y.view(x.shape)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x, eps, *extra = ctx.saved_tensors
        need_x, need_eps = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch.is_grad_enabled():       # create_graph: the same formula, on autograd
            dx, deps = ctx.form.grads(g, x, eps, *extra, need_eps=need_eps)
        else:
            dx, deps = _BACKWARD(g.reshape(-1), x.reshape(-1), eps, *extra,
                                 compiled=ctx.compiled, form=ctx.form, need_eps=need_eps)
            dx = dx.view(x.shape)
        if deps is not None:
            deps = deps.to(eps.dtype)
        return (dx if need_x else None, deps if need_eps else None, None, None,
                *(None for _ in extra))


def use_compiled_for(module: Any, x: Tensor) -> bool:
    """Whether ``module`` (its ``compile_kernels``: ``True`` / ``False`` forces it; ``None``
    decides) runs its call on ``x`` through the compiled kernels; the call's eager work
    counts towards the switch (:func:`~kanlab.layers._compile.use_compiled`, each element
    :data:`ELEMENT_COST` entries), so call it once per forward."""
    return use_compiled(module.compile_kernels, x.numel(), caller=module, shape=tuple(x.shape),
                        cost=ELEMENT_COST)


def apply(form: PointwiseForm, x: Tensor, eps: Tensor, *extra: Tensor, compiled: bool) -> Tensor:
    """``form.value(x, eps, *extra)`` through the fused function (call when allowed).

    Args:
        form: The activation.
        x: Input, any shape.
        eps: The learnable scalar (0-d).
        extra: Further 0-d tensors the form takes (no gradient flows to them).
        compiled: Run the ``torch.compile``d kernels (:func:`use_compiled_for`).
    """
    out: Tensor = _PointwiseFunction.apply(x, eps, form, compiled, *extra)
    return out
