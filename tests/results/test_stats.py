"""Leaderboard statistics against values computed by hand."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sp

from kanlab.results.stats import Stat, holm, tost, welch

A = [1.0, 2.0, 3.0, 4.0]
B = [2.0, 4.0, 6.0, 8.0, 10.0]


def test_stat_mean_std_and_t_interval_by_hand() -> None:
    s = Stat.of([*A, None, math.nan])
    assert s is not None and s.n == 4
    assert s.mean == pytest.approx(2.5)
    # sum of squared deviations 5, n - 1 = 3
    assert s.std == pytest.approx(math.sqrt(5 / 3))
    # t_{0.975, 3} = 3.182446305 (printed t tables); half-width t * s / sqrt(n)
    assert s.ci_half_width == pytest.approx(3.182446305 * math.sqrt(5 / 3) / 2, rel=1e-8)
    assert s.ci == pytest.approx((2.5 - 2.0542602568, 2.5 + 2.0542602568))
    one = Stat.of([0.7])
    assert one is not None and one.std is None and one.ci is None
    assert Stat.of([None]) is None


def test_welch_against_the_formula() -> None:
    na, nb = len(A), len(B)
    ma, mb = sum(A) / na, sum(B) / nb                      # 2.5, 6
    va = sum((x - ma) ** 2 for x in A) / (na - 1)           # 5/3
    vb = sum((x - mb) ** 2 for x in B) / (nb - 1)           # 10
    se2 = va / na + vb / nb
    t = (ma - mb) / math.sqrt(se2)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    p = 2 * sp.t.sf(abs(t), df)
    assert t == pytest.approx(-2.2514363, rel=1e-6)
    assert df == pytest.approx(5.5207877, rel=1e-6)
    res = welch(A, B)
    assert res.t == pytest.approx(t, rel=1e-10)
    assert res.df == pytest.approx(df, rel=1e-10)
    assert res.p == pytest.approx(p, rel=1e-10)
    assert res.p == pytest.approx(0.0691336, rel=1e-5)
    assert welch(B, A).p == pytest.approx(res.p)           # two-sided
    with pytest.raises(ValueError, match=">= 2 values"):
        welch([1.0], B)


def test_holm_by_hand() -> None:
    # sorted: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # capped at 1, NaN left out of the family (m = 2)
    adjusted = holm([0.6, math.nan, 0.2])
    assert adjusted[0] == pytest.approx(0.6) and adjusted[2] == pytest.approx(0.4)
    assert math.isnan(adjusted[1])
    assert holm([0.7, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_welch_of_two_groups_without_spread_is_decided_on_their_values() -> None:
    # no t distribution without spread: equal values p = 1, different values p = 0 (not NaN,
    # and not left to a variance that rounding makes 2.9e-34 instead of 0)
    assert welch([0.1] * 3, [0.1] * 3).p == 1.0
    assert welch([0.1] * 3, [0.1] * 3).t == 0.0
    far = welch([80.0] * 3, [90.0] * 4)
    assert far.p == 0.0 and far.t == -math.inf
    assert welch([0.7] * 3, [math.nextafter(0.7, 1.0)] * 3).p == 0.0
    # one group with spread: scipy's Welch test as usual
    assert welch([1.0] * 3, [1.0, 2.0, 4.0]).p == pytest.approx(
        sp.ttest_ind([1.0] * 3, [1.0, 2.0, 4.0], equal_var=False).pvalue)


# --------------------------------------------------------------------------- TOST


def _tost_by_hand(a: list[float], b: list[float], eps: float) -> float:
    """Welch TOST from the formulas: t = (d ± eps) / se, Welch–Satterthwaite df,
    one-sided tails from scipy.stats.t (no ttest_ind)."""
    import statistics

    from scipy.stats import t as student

    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = (va + vb) ** 0.5
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    d = statistics.fmean(a) - statistics.fmean(b)
    p_lower = float(student.sf((d + eps) / se, df))
    p_upper = float(student.cdf((d - eps) / se, df))
    return max(p_lower, p_upper)


@pytest.mark.parametrize(("a", "b", "eps"), [
    ([89.11, 89.3, 88.95, 89.0, 89.2], [88.63, 88.9, 88.4, 88.7, 88.55], 0.5),
    ([88.0, 88.1, 87.9], [88.05, 88.02, 88.1, 87.95], 0.3),
    ([1.0, 2.0, 3.0], [1.5, 2.5, 3.5, 4.5], 2.0),
])
def test_tost_matches_the_hand_formula_and_statsmodels(a: list[float], b: list[float],
                                                       eps: float) -> None:
    res = tost(a, b, eps)
    assert res.p == pytest.approx(_tost_by_hand(a, b, eps), rel=1e-9, abs=1e-12)
    weightstats = pytest.importorskip("statsmodels.stats.weightstats")
    p_sm, _, _ = weightstats.ttost_ind(a, b, -eps, eps, usevar="unequal")
    assert res.p == pytest.approx(float(p_sm), rel=1e-7, abs=1e-12)


def test_tost_without_spread_and_bad_input() -> None:
    assert tost([1.0, 1.0], [1.2, 1.2], 0.5).p == 0.0  # inside the margin exactly
    assert tost([1.0, 1.0], [2.0, 2.0], 0.5).p == 1.0
    with pytest.raises(ValueError, match="`margin` must be > 0"):
        tost([1.0, 2.0], [1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match=">= 2 values"):
        tost([1.0], [1.0, 2.0], 0.5)
