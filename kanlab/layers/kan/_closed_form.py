"""Activations with a closed-form derivative, recognised by value: for hand-written kernels.

The fused kernels of the KAN layers (``_compile.py``) evaluate an activation and its derivative
inside one loop without autograd, so they need both as plain tensor functions.
:func:`closed_form_activation` maps an activation module to such a :class:`ClosedForm` by
comparing values on a probe grid (never by name), or returns None and the layer keeps autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ClosedForm", "closed_form_activation"]


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
