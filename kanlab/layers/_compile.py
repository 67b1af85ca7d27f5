"""``torch.compile`` for fused elementwise kernels (KAN layers, CRReLU, EAFO), eager fallback.

A KAN layer's cost beyond its matmul is a chain of elementwise ops over a ``(B, D, M)`` basis
(M basis functions per input). Eager PyTorch runs each op as a separate pass over memory;
``torch.compile`` (Inductor: C++/OpenMP on CPU, Triton on CUDA) fuses a whole kernel function
into one or two loops. The layers write each kernel as a plain tensor function without autograd
(their ``autograd.Function`` calls a forward and a backward kernel), which runs as is in eager
mode and is what gets compiled here.

Policy (:func:`use_compiled`): a layer's ``compile_kernels`` hyperparameter ``True`` / ``False``
forces it; ``None`` (the default) compiles a call when

- it has at least :data:`AUTO_MIN_ENTRIES` basis entries (one compilation, seconds once per
  process and configuration, with Inductor's on-disk cache, quickly pays for itself), or
- the layer has already done :data:`AUTO_MIN_WORK` of eager work at this input shape (the
  B-spline, FastKAN, ReLU-KAN, AF-KAN and Wav-KAN kernels pass their layer and shape:
  compiled, their batch-64 Fashion-MNIST training steps take about half to nine tenths of the
  eager time (``python -m bench train_throughput``, its ``eager`` and ``kernels`` rows;
  recorded in ``results/bench/``); GR-KAN's pass none),
  counting each call as its entries plus
  :data:`CALL_OVERHEAD` (what eager mode's ~100 small passes per call cost beyond the
  arithmetic, in entries). That is the ski-rental rule: the eager kernels run until what they
  cost beyond compiled ones adds up to about one compilation (~5 s on a 2-core CPU with a warm
  cache), so compiling never costs more than about twice the better choice in hindsight. A
  Fashion-MNIST run at batch 64 (784 inputs x 8 bases) switches after ~2,000 calls (training
  steps, one call each) of its 21,500; tests, short trials and a full-batch L-BFGS fit of a
  few hundred calls stay eager.

``KANLAB_COMPILE=0`` / ``1`` in the environment changes that default (``None``) to never /
always; an explicit ``True`` / ``False`` wins. Compiled and eager kernels agree up to float
rounding, so a run's last bits depend on when its calls switched: deterministic for a run
from its start, but a run resumed from a checkpoint counts afresh.

Failure handling: if compiling or running a compiled kernel raises (no C++ toolchain, an
unsupported device), a warning is logged once and that kernel runs eagerly for the rest of the
process; results do not change. Inside a user's own ``torch.compile`` region the functional
kernel is called uncompiled, so that Dynamo traces it as part of the user's graph.
"""

from __future__ import annotations

import inspect
import logging
import types
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD

from kanlab import settings

logger = logging.getLogger(__name__)

__all__ = [
    "AUTO_MIN_ENTRIES", "AUTO_MIN_WORK", "CALL_OVERHEAD", "RECOMPILE_LIMIT", "Kernel",
    "exporting", "kernels_allowed", "use_compiled",
]

AUTO_MIN_ENTRIES = 1 << 21
"""Basis entries (rows x inputs x basis functions) from which ``compile_kernels=None`` compiles."""

AUTO_MIN_WORK = 1 << 30
"""Eager work (entries, :data:`CALL_OVERHEAD` per call included) at one layer and input shape
after which ``compile_kernels=None`` compiles: about one compilation's cost."""

CALL_OVERHEAD = 1 << 17
"""One eager call's fixed cost (its ~100 op launches, ~0.5 ms on CPU) in basis entries."""

RECOMPILE_LIMIT = 64
"""Recompilations Dynamo allows each compiled kernel copy (its own default: 8 per code object)."""

# torch.compile(..., recompile_limit=) where this torch has it; otherwise Dynamo's global limit
_REGION_OPTIONS: dict[str, Any] = (
    {"recompile_limit": RECOMPILE_LIMIT}
    if "recompile_limit" in inspect.signature(torch.compile).parameters else {}
)

# eager work so far per layer and input shape (weak keys: a deleted layer takes it along)
_WORK: weakref.WeakKeyDictionary[object, dict[tuple[int, ...], int]] = (
    weakref.WeakKeyDictionary())


def use_compiled(
    setting: bool | None, entries: int, *, caller: object | None = None,
    shape: tuple[int, ...] = (), cost: int = 1,
) -> bool:
    """Whether a call with ``entries`` basis entries uses the compiled kernels.

    ``setting`` (the layer's ``compile_kernels``) wins; ``None`` takes ``$KANLAB_COMPILE``
    when set, else compiles from :data:`AUTO_MIN_ENTRIES` entries on, or once ``caller`` (the
    layer; ``None``: nothing is counted) has done :data:`AUTO_MIN_WORK` of eager work at input
    ``shape`` (each call: ``entries * cost`` + :data:`CALL_OVERHEAD`; ``cost``: what one
    entry's eager kernels cost beyond the compiled ones, in KAN basis entries).
    """
    if setting is not None:
        return setting
    default = settings.compile_kernels()
    if default is not None:
        return default
    if entries >= AUTO_MIN_ENTRIES:
        return True
    if caller is None:
        return False
    work = _WORK.setdefault(caller, {})
    done = work.get(shape, 0)
    if done >= AUTO_MIN_WORK:
        return True
    work[shape] = done + entries * cost + CALL_OVERHEAD
    return False


class Kernel:
    """A tensor function run eagerly or through ``torch.compile``, keyed by its static options.

    ``kernel(*tensors, compiled=..., **static)`` calls ``fn(*tensors, **static)`` compiled, or
    ``eager`` (default: ``fn``; an in-place, slice-by-slice form of the same function is often
    faster without a compiler, and must give the same values) uncompiled. Every distinct
    ``static`` gets its own copy of ``fn``'s code object before compilation: Dynamo counts
    recompilations per code object, so a process that builds many layer configurations (a
    grid-size search) would otherwise run out and silently drop to eager. Within one
    configuration, shape changes recompile at most once (automatic dynamic shapes), but a
    parameter passed to a kernel keeps static sizes (one compilation per layer size) and each
    switch of deterministic mode between runs in one process recompiles: ten B-spline grid
    sizes in one process, alternating the mode, reached Dynamo's default limit of 8 on one
    kernel. Each compiled copy therefore gets :data:`RECOMPILE_LIMIT` (``torch.compile``'s
    per-region ``recompile_limit``; a torch without it keeps Dynamo's global limit), which
    changes nothing for a process below the default limit. Kernels that only move data (the
    KAN weight assembly, a copy and at most one multiply per entry) are not ``Kernel``s: eager
    copies are faster on CPU (see ``assemble_weight``) and give the same bits.
    """

    def __init__(self, fn: Callable[..., Any], *, eager: Callable[..., Any] | None = None) -> None:
        self.fn = fn
        self.eager = fn if eager is None else eager
        self.failed = False
        self._compiled: dict[Hashable, Callable[..., Any]] = {}

    def __call__(self, *tensors: Any, compiled: bool, **static: Hashable) -> Any:
        if torch.compiler.is_compiling():  # inside the user's compiled model: trace fn
            return self.fn(*tensors, **static)
        if compiled and not self.failed:
            try:
                return self._get(static)(*tensors, **static)
            except Exception as err:  # compiler missing or failing: the eager kernel is exact
                self.failed = True
                logger.warning(
                    "torch.compile of kanlab kernel %s failed, running it eagerly from now on "
                    "(%s: %s)", self.fn.__name__, type(err).__name__, err,
                )
        return self.eager(*tensors, **static)

    def _get(self, static: dict[str, Hashable]) -> Callable[..., Any]:
        key = tuple(sorted(static.items()))
        fn = self._compiled.get(key)
        if fn is None:
            code = self.fn.__code__.replace(co_name=f"{self.fn.__name__}_{len(self._compiled)}")
            fresh = types.FunctionType(
                code, self.fn.__globals__, code.co_name, self.fn.__defaults__, self.fn.__closure__
            )
            fresh.__kwdefaults__ = self.fn.__kwdefaults__
            fn = torch.compile(fresh, **_REGION_OPTIONS)
            self._compiled[key] = fn
        return fn


def kernels_allowed() -> bool:
    """Whether a fused ``autograd.Function`` may run: no ``torch.func`` transform, no forward
    AD, no export (:func:`exporting`).

    An ``autograd.Function`` without ``setup_context``/``jvp`` cannot take part in ``vmap``,
    ``grad``, ``jacrev``, ``jacfwd``, ``hessian`` or ``torch.autograd.forward_ad``; callers run
    their plain reference expression instead (same values).
    """
    transforms = bool(torch._C._are_functorch_transforms_active())
    return not transforms and fwAD._current_level < 0 and not exporting()


def exporting() -> bool:
    """Whether a graph is being traced for export (``torch.onnx.export``, ``torch.export``,
    ``torch.jit.trace``): the fused paths then run their plain formula, which exporters
    translate op by op (an ``autograd.Function`` with hand-written kernels is opaque to them).
    """
    return bool(
        torch.onnx.is_in_onnx_export()
        or torch.compiler.is_exporting()
        or torch._C._get_tracing_state() is not None
    )
