"""Optimisers and learning-rate schedulers by name (registries ``optimizers``, ``schedulers``).

The entries are torch's own classes, declared in :mod:`kanlab.catalog`; configs name them
(``optim: {name: adamw}``, ``scheduler: {name: exponential, gamma: 0.8}``) and their keyword
arguments are checked against the class signature. :func:`build_optimizer` is how the
training system (and the benchmarks) instantiate them.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import optim

from kanlab.registry import OPTIMIZERS

__all__ = ["FUSED_DEVICES", "LBFGS", "build_optimizer"]


class LBFGS(optim.LBFGS):
    """``torch.optim.LBFGS`` that also takes parameters whose gradients are not contiguous.

    Deviations: torch's L-BFGS flattens each gradient with ``.view(-1)``, which fails on the
    non-contiguous gradients some layers produce (B-spline KAN's expanded weights); this
    subclass flattens with ``.reshape(-1)`` (a copy only where needed). Same algorithm, same
    values.
    """

    def _gather_flat_grad(self) -> torch.Tensor:
        views = []
        for p in self._params:
            if p.grad is None:
                view = p.new_zeros(p.numel())
            elif p.grad.is_sparse:
                view = p.grad.to_dense().reshape(-1)
            else:
                view = p.grad.reshape(-1)
            if torch.is_complex(view):
                view = torch.view_as_real(view).reshape(-1)
            views.append(view)
        return torch.cat(views, 0)


FUSED_DEVICES = ("cpu", "cuda")
"""Devices on which :func:`build_optimizer` turns torch's fused Adam/AdamW step on."""

_FUSED_CLASSES = (optim.Adam, optim.AdamW)


def build_optimizer(
    name: str,
    groups: Iterable[Any],
    *,
    lr: float,
    params: Mapping[str, Any] | None = None,
) -> optim.Optimizer:
    """The ``optimizers`` entry ``name`` over ``groups`` with learning rate ``lr``.

    Adam and AdamW get ``fused=True`` (one kernel per parameter group and step instead of
    about a dozen elementwise ops per parameter: at the Fashion-MNIST protocol, 784-64-10 at
    batch 64, the optimizer step is 15-20 % of an eager KAN step and shrinks ~5x) when every
    parameter is a floating-point tensor on the CPU or a CUDA device and ``params`` sets
    neither ``fused`` nor ``foreach``. The update is the same algorithm; values agree with the
    unfused step up to float rounding. L-BFGS takes one parameter group: the groups are
    merged (weight decay must then be 0).

    Args:
        name: Key in the ``optimizers`` registry.
        groups: Parameters or parameter groups (``param_groups``).
        lr: Learning rate.
        params: Further keyword arguments of the optimizer class.
    """
    cls = OPTIMIZERS.get(name)
    kwargs = dict(params or {})
    groups = list(groups)
    if (
        isinstance(cls, type)
        and issubclass(cls, _FUSED_CLASSES)
        and "fused" in inspect.signature(cls).parameters
        and not {"fused", "foreach"} & kwargs.keys()
        and _fusable(groups)
    ):
        kwargs["fused"] = True
    if isinstance(cls, type) and issubclass(cls, optim.LBFGS):
        groups = _one_group(groups)
    optimizer: optim.Optimizer = cls(groups, lr=lr, **kwargs)
    _skip_idle_capture_check(optimizer)
    _fused_step_in_memory_order(optimizer)
    if not isinstance(optimizer, optim.LBFGS):  # its state is flat over all parameters
        optimizer.register_load_state_dict_post_hook(_state_like_params)
    return optimizer


def _state_like_params(optimizer: optim.Optimizer) -> None:
    """After ``load_state_dict``: give every per-entry state tensor (Adam's moments, SGD's
    momentum) its parameter's shape and strides.

    A state dict saved before a layer changed how it stores a parameter (FastKAN's and
    ReLU-KAN's flat ``(O, D*M)`` coefficients, now ``(O, D, M)`` views of basis-major
    buffers) holds the moments in the old shape and order; torch loads them as they are, and
    a fused step, which walks each tensor flat through memory, would pair a parameter's
    entries with the wrong moments. Each such tensor is copied into one laid out like its
    parameter (the same logical entries); tensors that already match are left alone.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                continue
            for key, value in state.items():
                if (
                    isinstance(value, torch.Tensor) and value.dim() > 0
                    and value.numel() == p.numel()
                    and (value.shape != p.shape or value.stride() != p.stride())
                ):
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(
                        value.reshape(p.shape)
                    )


def _skip_idle_capture_check(optimizer: optim.Optimizer) -> None:
    """Adam/AdamW check on every step whether a CUDA/XPU graph capture is under way; with
    ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (Lightning sets it) and a CUDA build of torch that has
    not initialised CUDA, that check loads NVML on every call (~0.15 ms a step, a sixth of a
    batch-64 MLP step on CPU). No capture can be under way before CUDA (or XPU) is
    initialised, so the check runs only once one of them is."""
    original = getattr(optimizer, "_accelerator_graph_capture_health_check", None)
    if original is None:
        return
    check = _CaptureCheckOnceInitialised(original)
    optimizer._accelerator_graph_capture_health_check = check  # type: ignore[method-assign]


# Adam's ``_init_group`` arguments after ``group``; the first five lists are per parameter
_INIT_GROUP_LISTS = ("params_with_grad", "grads", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs",
                     "state_steps")


def _fused_step_in_memory_order(optimizer: optim.Optimizer) -> None:
    """Hand a fused Adam/AdamW step each non-contiguous parameter as its memory-order view.

    torch's fused CPU step walks every tensor flat through its data pointer, so it updates a
    parameter stored in another order (B-spline KAN's basis-major ``spline_weight``, an
    ``(O, D, M)`` view of an ``(O, M, D)`` buffer) correctly; but it first makes a contiguous
    copy of each such gradient, which it does not use: for the ``(64, 784, 8)`` layer of the
    Fashion-MNIST protocol that copy is ~0.3 ms of a ~0.7 ms optimizer step (one thread).
    The parameter, its gradient and its moments share their strides (autograd's and the
    optimizer's layout contract), so the permuted view that makes them contiguous puts the
    same entries at the same addresses: the step reads and writes the same memory in the same
    order and gives the same bits, without the copy. Groups that are not fused, and tensors
    that are contiguous, overlapping or strided differently from their parameter, pass as
    they are; an optimizer whose ``_init_group`` is not Adam's keeps torch's behaviour.
    """
    if not isinstance(optimizer, _FUSED_CLASSES):
        return
    original = getattr(optimizer, "_init_group", None)
    if original is None or not any(g.get("fused") for g in optimizer.param_groups):
        return
    names = tuple(inspect.signature(original).parameters)
    if names != ("group", *_INIT_GROUP_LISTS):
        return
    optimizer._init_group = _InMemoryOrder(original)  # type: ignore[method-assign]


def _memory_order(t: torch.Tensor) -> list[int] | None:
    """The permutation whose view of ``t`` is contiguous, or None (contiguous already, or
    overlapping / with gaps)."""
    if t.is_contiguous():
        return None
    strides = t.stride()
    order = sorted(range(t.dim()), key=lambda d: -strides[d])
    return order if t.permute(order).is_contiguous() else None


class _InMemoryOrder:
    """Adam's ``_init_group`` followed by the memory-order views of a fused group's tensors
    (a class, so that optimizers stay picklable)."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def __call__(self, group: dict[str, Any], *lists: list[torch.Tensor]) -> Any:
        result = self.original(group, *lists)
        if not group.get("fused"):
            return result
        per_param = [lst for lst in lists[:5] if lst]
        for i, p in enumerate(lists[0]):
            order = _memory_order(p)
            if order is None or any(lst[i].stride() != p.stride() for lst in per_param):
                continue
            for lst in per_param:
                lst[i] = lst[i].permute(order)
        return result


def _one_group(groups: list[Any]) -> list[Any]:
    """L-BFGS takes a single parameter group and has no weight decay: merge the groups.

    Raises:
        ValueError: when a group asks for weight decay (L-BFGS would silently ignore it).
    """
    params: list[Any] = []
    for g in groups:
        if isinstance(g, Mapping):
            if g.get("weight_decay", 0.0):
                raise ValueError(
                    "`optim.weight_decay` must be 0 with optim.name=lbfgs (L-BFGS has no "
                    f"weight decay), but got weight_decay={g['weight_decay']}."
                )
            params.extend(g["params"])
        else:
            params.append(g)
    return params


def _fusable(groups: list[Any]) -> bool:
    tensors = [
        p
        for g in groups
        for p in (g["params"] if isinstance(g, Mapping) else [g])
        if isinstance(p, torch.Tensor)
    ]
    return bool(tensors) and all(
        p.device.type in FUSED_DEVICES and p.is_floating_point() for p in tensors
    )


class _CaptureCheckOnceInitialised:
    """Runs ``original`` only once CUDA or XPU is initialised (a class, so that optimizers
    stay picklable)."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def __call__(self) -> None:
        xpu = getattr(torch, "xpu", None)
        cuda = torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
        if cuda or (xpu is not None and xpu.is_initialized()):
            self.original()
