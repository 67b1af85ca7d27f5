"""The leaderboard's columns: header, cell text and sort value of each, and the row order.

A column is one entry in :data:`~kanlab.results.records.METRICS` (a statistic over seeds read
from each run row, formatted mean ± std) or one of the other :data:`COLUMNS` (name, model, n
with its flags, params, CI, the comparisons, FLOPs, code, device); the Markdown, CSV, HTML
and rich renderings (:mod:`kanlab.results.render`) all follow them. Cell texts use fixed
number formats, and :func:`sort_rows` a fixed order with tie-breaks, so a table is
byte-for-byte reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kanlab.errors import InputError
from kanlab.registry import suggest
from kanlab.results.records import ALPHA, METRICS, Comparison, ConfigRow, Metric
from kanlab.results.stats import Stat

if TYPE_CHECKING:
    from kanlab.results.leaderboard import Leaderboard

__all__ = ["COLUMNS", "Column", "DEFAULT_COLUMNS", "REGRESSION_COLUMNS", "check_sort", "fmt_int",
           "fmt_p", "n_of", "sort_rows", "top_text", "with_equiv"]


def _fmt_stat(s: Stat | None, digits: int = 2) -> str:
    if s is None:
        return "–"
    if s.std is None:
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f}"


def _fmt_ci(s: Stat | None, digits: int = 2) -> str:
    ci = None if s is None else s.ci
    return "–" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def fmt_p(p: float) -> str:
    if p < 0.001:
        return "< 0.001"
    text = f"{p:.3f}"
    return f"< {ALPHA:.3f}" if p < ALPHA <= float(text) else text  # 0.0497 is a finding


def fmt_int(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def _fmt_flops(v: int | None) -> str:
    if v is None:
        return "–"
    if v >= 1e9:
        return f"{v / 1e9:.2f} G"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return str(v)


def _fmt_params(r: ConfigRow) -> str:
    if r.params is None:
        return "–"
    text = fmt_int(r.params)
    if r.params_low is not None and r.params_low != r.params:
        text = f"{r.params_low:,}–{r.params:,}"
    return text + (" ⁷" if r.params_built is not None else "")


@dataclass(frozen=True)
class Column:
    """A leaderboard column: header, cell text, sort value and direction.

    ``text`` and ``value`` take the row and the leaderboard (for the comparison columns).
    """

    header: str
    text: Callable[[ConfigRow, Leaderboard], str]
    value: Callable[[ConfigRow, Leaderboard], Any]
    descending: bool = False
    follows_primary: bool = False  # sorted best first for the primary metric's direction


def _metric_column(key: str, m: Metric) -> Column:
    def value(r: ConfigRow, lb: Leaderboard) -> float | None:
        s = r.stat(key)
        return None if s is None else s.mean

    return Column(m.header, lambda r, lb: _fmt_stat(r.stat(key), m.digits), value, m.descending)


def n_of(r: ConfigRow, lb: Leaderboard) -> int:
    """Seeds in the statistics: those with a finite primary metric."""
    s = r.stat(lb.primary)
    return 0 if s is None else s.n


def _n_text(r: ConfigRow, lb: Leaderboard) -> str:
    n, flags, marks = n_of(r, lb), [], []
    if n < r.n:
        flags.append(f"{r.n - n} of {r.n} non-finite")
    if r.stopped:
        flags.append(f"{r.stopped} stopped")
    if flags:
        marks.append("⁸")
    if r.improving or r.conv_unknown:
        flags += [f"{r.improving} still improving"] if r.improving else []
        flags += [f"{r.conv_unknown} convergence unknown"] if r.conv_unknown else []
        marks.append("⁹")
    if r.no_fit:
        flags.append(f"{r.no_fit} not fitted")
        marks.append("¹⁰")
    return f"{n} ({', '.join(flags)}) {' '.join(marks)}" if flags else str(n)


def _delta_text(r: ConfigRow, lb: Leaderboard) -> str:
    if r.key in lb.baseline_keys:
        return "baseline"
    c = lb.comparisons.get(r.key)
    return "–" if c is None or c.delta is None else f"{c.delta:+.{METRICS[lb.primary].digits}f}"


def _p_text(r: ConfigRow, lb: Leaderboard) -> str:
    if r.key in lb.baseline_keys:
        return "–"
    c = lb.comparisons.get(r.key, Comparison())
    return fmt_p(c.p_baseline) if c.p_baseline is not None else f"– ({c.why_baseline})"


def _equiv_text(r: ConfigRow, lb: Leaderboard) -> str:
    if r.key in lb.baseline_keys:
        return "–"
    c = lb.comparisons.get(r.key, Comparison())
    if c.p_equiv is None:
        return f"– ({c.why_equiv})"
    mark = "≡" if c.p_equiv < ALPHA else "not shown"
    return f"{mark} (p {fmt_p(c.p_equiv)})"


def top_text(r: ConfigRow, lb: Leaderboard) -> str:
    if r.key in lb.top_keys:
        return "top"
    c = lb.comparisons.get(r.key, Comparison())
    if c.p_top is None:
        return f"– ({c.why_top})"
    return "≈ top" if c.p_top >= ALPHA else "below"


def _comparison_value(attr: str) -> Callable[[ConfigRow, Leaderboard], float | None]:
    def value(r: ConfigRow, lb: Leaderboard) -> float | None:
        if attr == "p_top" and r.key in lb.top_keys:
            return math.inf  # the top row sorts first by "vs top"
        c = lb.comparisons.get(r.key)
        return None if c is None else getattr(c, attr)

    return value


COLUMNS: dict[str, Column] = {
    "name": Column("name", lambda r, lb: r.name, lambda r, lb: r.name),
    "model": Column("model", lambda r, lb: r.model, lambda r, lb: r.model),
    "n": Column("n", lambda r, lb: _n_text(r, lb), lambda r, lb: n_of(r, lb),
                descending=True),
    "params": Column("params", lambda r, lb: _fmt_params(r), lambda r, lb: r.params),
    **{k: _metric_column(k, m) for k, m in METRICS.items()},
    "ci": Column("95 % CI", lambda r, lb: _fmt_ci(r.stat(lb.primary), METRICS[lb.primary].digits),
                 lambda r, lb: _metric_column(lb.primary, METRICS[lb.primary]).value(r, lb),
                 follows_primary=True),
    "delta": Column("Δ vs baseline ⁴", _delta_text, _comparison_value("delta"),
                    follows_primary=True),
    "p": Column("p vs baseline ⁴", _p_text, _comparison_value("p_baseline")),
    "equiv": Column("≡ baseline ±ε ¹¹", _equiv_text, _comparison_value("p_equiv")),
    "vs_top": Column("vs top ⁵", top_text, _comparison_value("p_top"), descending=True),
    "flops": Column("matmul FLOPs ²", lambda r, lb: _fmt_flops(r.flops), lambda r, lb: r.flops),
    "code": Column("code ⁶", lambda r, lb: r.provenance.text(),
                   lambda r, lb: r.provenance.text()),
    "device": Column("device", lambda r, lb: r.device or "–", lambda r, lb: r.device),
}
DEFAULT_COLUMNS = (
    "name", "model", "n", "params", "test", "ci", "delta", "p", "vs_top", "val",
    "test_selected", "flops", "latency", "epoch_time", "epochs", "code", "device",
)
REGRESSION_COLUMNS = (
    "name", "model", "n", "params", "test_rmse", "ci", "delta", "p", "vs_top", "val_rmse",
    "test_r2", "flops", "latency", "epoch_time", "epochs", "code", "device",
)


def check_sort(sort: str) -> None:
    """Refuse (InputError, one line) a ``sort`` that is not a :data:`COLUMNS` key."""
    if sort not in COLUMNS:
        raise InputError(
            f"`sort` must be one of {', '.join(COLUMNS)}, but got sort={sort!r}."
            f"{suggest(sort, list(COLUMNS))}"
        )


def sort_rows(rows: Sequence[ConfigRow], sort: str, lb: Leaderboard) -> list[ConfigRow]:
    """``rows`` by task, then by column ``sort`` (rows without a value last), name and key."""
    check_sort(sort)
    col = COLUMNS[sort]
    descending = METRICS[lb.primary].descending if col.follows_primary else col.descending

    def key(r: ConfigRow) -> tuple[Any, ...]:
        v = col.value(r, lb)
        if v is None:
            return (r.task, 1, 0, r.name, r.key)
        if isinstance(v, str):
            return (r.task, 0, v, r.name, r.key)
        return (r.task, 0, -v if descending else v, r.name, r.key)

    return sorted(rows, key=key)


def with_equiv(columns: tuple[str, ...], margin: float | None) -> tuple[str, ...]:
    """The TOST column after the p column when a margin is set."""
    if margin is None:
        return columns
    if not margin > 0:
        raise InputError(f"`margin` must be > 0, but got margin={margin}.")
    i = columns.index("p") + 1
    return (*columns[:i], "equiv", *columns[i:])
