"""Wav-KAN's mother wavelets psi(t) and their derivatives psi'(t), as plain tensor functions.

``WAVELETS`` is the formula (autograd differentiates it to any order); ``SLOPES`` holds the
hand-derived first derivatives that the fused backward (``_fused/_wavelet.py``) evaluates
instead of taping the formula. Each needs one ``exp`` per entry (Morlet: and one ``cos`` /
``sin``); tests compare every slope with autograd's derivative of its wavelet.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["SLOPES", "WAVELETS"]

_MEXICAN_HAT_NORM: float = 2.0 / (math.sqrt(3.0) * math.pi**0.25)


def _mexican_hat(t: Tensor) -> Tensor:
    t2 = t.square()
    return _MEXICAN_HAT_NORM * (1 - t2) * torch.exp(-0.5 * t2)


def _morlet(t: Tensor) -> Tensor:
    return torch.cos(5.0 * t) * torch.exp(-0.5 * t.square())


def _dog(t: Tensor) -> Tensor:
    return -t * torch.exp(-0.5 * t.square())


def _mexican_hat_slope(t: Tensor) -> Tensor:
    # d/dt C (1 - t^2) e^{-t^2/2} = C t (t^2 - 3) e^{-t^2/2}
    t2 = t.square()
    return _MEXICAN_HAT_NORM * t * (t2 - 3) * torch.exp(-0.5 * t2)


def _morlet_slope(t: Tensor) -> Tensor:
    # d/dt cos(5t) e^{-t^2/2} = -(5 sin(5t) + t cos(5t)) e^{-t^2/2}
    w = 5.0 * t
    return -(5.0 * torch.sin(w) + t * torch.cos(w)) * torch.exp(-0.5 * t.square())


def _dog_slope(t: Tensor) -> Tensor:
    # d/dt -t e^{-t^2/2} = (t^2 - 1) e^{-t^2/2}
    t2 = t.square()
    return (t2 - 1) * torch.exp(-0.5 * t2)


WAVELETS: dict[str, Callable[[Tensor], Tensor]] = {
    "mexican_hat": _mexican_hat,
    "morlet": _morlet,
    "dog": _dog,
}
"""Mother wavelets psi(t): Mexican hat (Ricker), Morlet (omega_0 = 5), derivative of Gaussian."""

SLOPES: dict[str, Callable[[Tensor], Tensor]] = {
    "mexican_hat": _mexican_hat_slope,
    "morlet": _morlet_slope,
    "dog": _dog_slope,
}
"""psi'(t) of each of :data:`WAVELETS`."""
