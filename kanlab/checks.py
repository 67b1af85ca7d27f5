"""Argument and shape checks in the house wording (public: a user's own layers and configs use
them too, so every error reads the same way)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from kanlab.registry import suggest

__all__ = ["check_choice", "check_in_features", "check_positive", "check_range", "check_at_least"]


def check_at_least(name: str, value: Any, low: float) -> None:
    """``value >= low`` or ``ValueError`` in the house wording."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ValueError(f"`{name}` must be >= {low}, but got {name}={value!r}.")


def check_positive(name: str, value: Any) -> None:
    """``value > 0`` or ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be > 0, but got {name}={value!r}.")


def check_range(name: str, value: Sequence[float]) -> tuple[float, float]:
    """A ``(low, high)`` pair with ``low < high``; returns it as floats."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a pair (low, high) of numbers, but got {name}={value!r}."
        ) from None
    if not low < high:
        raise ValueError(f"`{name}` must satisfy low < high, but got {name}={tuple(value)!r}.")
    return low, high


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    """``value in choices`` or ``ValueError`` with a "did you mean" hint."""
    if value not in choices:
        hint = suggest(str(value), list(choices))
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}, "
            f"but got {name}={value!r}.{hint}"
        )


def check_in_features(x: torch.Tensor, in_features: int) -> None:
    """The input's last dim must equal ``in_features``."""
    if x.dim() == 0 or x.shape[-1] != in_features:
        raise ValueError(
            f"`x` must have last dim {in_features} (in_features), "
            f"but got x.shape={tuple(x.shape)}."
        )


def check_in_channels(x: torch.Tensor, in_channels: int, *, unbatched: bool = True) -> None:
    """The input must be an image batch ``(B, C, H, W)`` with ``C == in_channels``, or (with
    ``unbatched``) one image ``(C, H, W)``."""
    if x.dim() not in ((3, 4) if unbatched else (4,)) or x.shape[-3] != in_channels:
        shapes = f"(B, {in_channels}, H, W)" + (f" or ({in_channels}, H, W)" if unbatched else "")
        raise ValueError(f"`x` must be {shapes}, but got x.shape={tuple(x.shape)}.")
