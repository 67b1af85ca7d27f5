"""Statistics of a leaderboard: per-configuration summaries, Welch tests, Holm correction.

- :class:`Stat`: n, mean, sample standard deviation (``None`` for n = 1) and the half-width
  of the 95 % confidence interval of the mean from Student's t distribution with n - 1
  degrees of freedom, ``t_{0.975, n-1} * s / sqrt(n)`` (``None`` for n = 1).
- :func:`welch`: the two-sided Welch t test (unequal variances) of two groups,
  ``scipy.stats.ttest_ind(a, b, equal_var=False)``:
  ``t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b)``, Welch–Satterthwaite df; two
  groups without spread get p = 1 (equal values) or 0 (different values).
- :func:`tost`: Welch two-one-sided-tests equivalence of two groups within a margin ``eps``
  (Schuirmann's TOST with Welch's unequal-variance t): ``H0: |mean_a - mean_b| >= eps``;
  ``p = max(p_lower, p_upper)`` from the one-sided Welch tests ``mean_a - mean_b > -eps``
  and ``mean_a - mean_b < eps``, each ``scipy.stats.ttest_ind(..., equal_var=False,
  alternative=...)`` on ``a`` shifted by ``± eps``; equivalent within eps where p < alpha.
  Two groups without spread: p = 0 when ``|mean_a - mean_b| < eps``, else 1.
- :func:`holm`: Holm's step-down adjustment of a family of p-values (controls the
  family-wise error rate): sort ascending, ``p_(i) * (m - i + 1)``, running maximum, capped
  at 1, returned in the input order.

Distributions come from scipy; nothing here is hand-written beyond Holm's ordering.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["MIN_N_FOR_TEST", "Stat", "Tost", "Welch", "holm", "tost", "welch"]

MIN_N_FOR_TEST = 3  # fewer values per group: no test is reported
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Stat:
    """One metric over the seeds of a configuration."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Stat | None:
        """The finite values of ``values``; ``None`` when there is none."""
        vals = tuple(float(v) for v in values if v is not None and math.isfinite(float(v)))
        return cls(vals) if vals else None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n - 1 in the denominator); ``None`` for n = 1."""
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def ci_half_width(self) -> float | None:
        """Half-width of the 95 % t confidence interval of the mean; ``None`` for n = 1."""
        if self.n < 2:
            return None
        from scipy import stats

        t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, self.n - 1))
        return t * float(self.std or 0.0) / math.sqrt(self.n)

    @property
    def ci(self) -> tuple[float, float] | None:
        """The 95 % confidence interval ``(low, high)`` of the mean; ``None`` for n = 1."""
        half = self.ci_half_width
        return None if half is None else (self.mean - half, self.mean + half)


@dataclass(frozen=True)
class Welch:
    """A two-sided Welch t test: statistic, Welch–Satterthwaite df and p-value."""

    t: float
    df: float
    p: float


def welch(a: Sequence[float], b: Sequence[float]) -> Welch:
    """Two-sided Welch t test of ``a`` against ``b``.

    Two groups without spread (every value of each group equal) have no t distribution: then
    ``p`` is 1 when their values are equal and 0 when not (``t`` 0 or ±inf), decided on the
    values themselves rather than on a variance that rounding makes 1e-34 instead of 0.

    Raises:
        ValueError: when a group has fewer than 2 values.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError(
            f"`a` and `b` must have >= 2 values each, but got {len(a)} and {len(b)}."
        )
    if min(a) == max(a) and min(b) == max(b):
        if a[0] == b[0]:
            return Welch(0.0, math.nan, 1.0)
        return Welch(math.copysign(math.inf, a[0] - b[0]), math.nan, 0.0)
    from scipy import stats

    with warnings.catch_warnings():  # one constant group: exact, scipy still warns
        warnings.filterwarnings("ignore", message="Precision loss occurred",
                                category=RuntimeWarning)
        res = stats.ttest_ind(list(a), list(b), equal_var=False)
    return Welch(float(res.statistic), float(res.df), float(res.pvalue))


@dataclass(frozen=True)
class Tost:
    """A Welch TOST: the two one-sided p-values and their maximum ``p``."""

    p: float
    p_lower: float
    p_upper: float
    margin: float


def tost(a: Sequence[float], b: Sequence[float], margin: float) -> Tost:
    """Welch TOST of ``a`` against ``b`` within ``± margin`` (see the module docstring).

    Raises:
        ValueError: for a group with fewer than 2 values or a margin that is not > 0.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError(
            f"`a` and `b` must have >= 2 values each, but got {len(a)} and {len(b)}."
        )
    if not margin > 0:
        raise ValueError(f"`margin` must be > 0, but got margin={margin}.")
    if min(a) == max(a) and min(b) == max(b):
        inside = abs(a[0] - b[0]) < margin
        p = 0.0 if inside else 1.0
        return Tost(p, p, p, margin)
    from scipy import stats

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred",
                                category=RuntimeWarning)
        lower = stats.ttest_ind([v + margin for v in a], list(b), equal_var=False,
                                alternative="greater")
        upper = stats.ttest_ind([v - margin for v in a], list(b), equal_var=False,
                                alternative="less")
    p_lower, p_upper = float(lower.pvalue), float(upper.pvalue)
    return Tost(max(p_lower, p_upper), p_lower, p_upper, margin)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given (NaN entries stay NaN, not counted in m)."""
    finite = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(finite)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(finite, key=lambda j: (pvalues[j], j))):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
