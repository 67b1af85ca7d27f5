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
    return optimizer


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
