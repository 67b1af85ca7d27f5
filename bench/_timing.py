"""Timing helpers shared by the benchmark modules."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

__all__ = ["paired_ratio"]


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """The median of the per-round ratios ``a[i] / b[i]`` of two cases timed in the same
    rounds, so that load that hits one round hits both of its times."""
    return statistics.median(u / v for u, v in zip(a, b, strict=True))
