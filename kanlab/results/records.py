"""The leaderboard's data model: the records a table is made of, and its metric columns.

A :class:`ConfigRow` is one configuration summarised over its seeds (a :class:`Stat` per
:data:`METRICS` entry, its :class:`Provenance`, convergence and cost tallies); a
:class:`Comparison` holds a row's tests against its task's baseline and top row; a
:class:`StudySummary` and an :class:`Anchor` are an exported study and an external reference
number. :mod:`kanlab.results.reading` reads them, :mod:`kanlab.results.aggregate` computes
them, :mod:`kanlab.results.render` shows them; :mod:`kanlab.results.leaderboard` puts them
together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kanlab.results.stats import Stat

__all__ = [
    "ALPHA", "Anchor", "Comparison", "ConfigRow", "GROUP_BY", "METRICS", "Metric",
    "PLAIN_ACTIVATIONS", "PRIMARY", "PRIMARY_REGRESSION", "Provenance", "R2_FIT", "SPLIT_BY",
    "STILL_IMPROVING_MAX", "StudySummary", "plural",
]

GROUP_BY = ("config", "name", "model")
# Rows whose configs differ at this path are separate tasks, never compared with each other
# (`--split-by`): by default the synthetic function of the function-fitting benchmark.
SPLIT_BY = "data.function"
PRIMARY = "test"  # the metric the statistics (CI, tests, top row) are computed on
PRIMARY_REGRESSION = "test_rmse"  # the same for regression tables (lower is better)
ALPHA = 0.05
R2_FIT = 0.5  # a regression row whose mean test R² is below this failed to fit
STILL_IMPROVING_MAX = 0.2  # `--strict` refuses a table with this share of runs still improving
PLAIN_ACTIVATIONS = ("relu", "silu", "gelu", "tanh")  # "the plain MLP" for the default baseline


def _acc(value: Any) -> float | None:
    """Accuracies are stored as fractions; shown in percent (values > 1 are taken as %)."""
    if value is None:
        return None
    v = float(value)
    return v * 100.0 if v <= 1.0 else v


@dataclass(frozen=True)
class Metric:
    """A statistic column: where each run row holds its value and how it is shown.

    ``source`` is the path into a ``runs.jsonl`` row (``("metrics", "test/acc")``,
    ``("latency_ms",)``); ``percent`` turns fractions into percent.
    """

    header: str
    source: tuple[str, ...]
    digits: int = 2
    descending: bool = False
    percent: bool = False
    sqrt: bool = False

    def value(self, row: Mapping[str, Any]) -> float | None:
        node: Any = row
        for part in self.source:
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        if node is None or isinstance(node, bool) or not isinstance(node, (int, float)):
            return None
        if self.sqrt:
            return math.sqrt(node) if node >= 0 else None
        return _acc(node) if self.percent else float(node)


# One entry per statistic column: adding a column is adding a line here.
METRICS: dict[str, Metric] = {
    "test": Metric("test acc % (best-val ckpt)", ("metrics", "test/acc"), descending=True,
                   percent=True),
    "val": Metric("val acc %", ("metrics", "val/acc"), descending=True, percent=True),
    "test_selected": Metric("test-selected acc % ¹", ("metrics", "test_selected/acc"),
                            descending=True, percent=True),
    "latency": Metric("latency ms ³", ("latency_ms",)),
    "epoch_time": Metric("epoch s", ("metrics", "epoch_time_s"), digits=1),
    "epochs": Metric("epochs", ("epochs",), digits=0),
    # regression (FunctionRegressor): test/loss is the sample-weighted MSE of the whole split
    "test_rmse": Metric("test RMSE (best-val ckpt)", ("metrics", "test/loss"), digits=4,
                        sqrt=True),
    "val_rmse": Metric("val RMSE", ("metrics", "val/loss"), digits=4, sqrt=True),
    "test_r2": Metric("test R²", ("metrics", "test/r2"), digits=4, descending=True),
}


@dataclass(frozen=True)
class Provenance:
    """Which code a configuration's runs came from (:mod:`kanlab.provenance`)."""

    code_shas: tuple[str, ...] = ()
    n_dirty: int = 0
    n_unknown: int = 0
    unknown_commits: int = 0  # distinct git_sha among the rows of unknown provenance

    @classmethod
    def of(cls, runs: Iterable[Mapping[str, Any]]) -> Provenance:
        shas: dict[str, None] = {}
        commits: set[str] = set()
        dirty = unknown = 0
        for r in runs:
            sha, is_dirty = r.get("code_sha"), r.get("git_dirty")
            if not sha or is_dirty is None:
                unknown += 1
                commits.add(str(r.get("git_sha")))
                continue
            shas[str(sha)] = None
            dirty += bool(is_dirty)
        return cls(tuple(sorted(shas)), dirty, unknown, len(commits))

    @property
    def problems(self) -> tuple[str, ...]:
        """``mixed: k code versions``, ``k dirty``, ``unknown provenance`` (empty: clean)."""
        out = []
        versions = len(self.code_shas) + (1 if self.n_unknown else 0)
        if versions > 1:
            out.append(f"mixed: {versions} code versions")
        if self.n_dirty:
            out.append(f"{plural(self.n_dirty, 'dirty run', 'dirty runs')}")
        if self.n_unknown:
            commits = plural(self.unknown_commits, "commit", "commits")
            out.append(f"unknown provenance ({commits})")
        return tuple(out)

    def text(self) -> str:
        if self.problems:
            return "; ".join(self.problems) + " ⁶"
        return self.code_shas[0][:7] if self.code_shas else "–"


@dataclass(frozen=True)
class ConfigRow:
    """One leaderboard row: a configuration summarised over its seeds.

    ``stats`` maps each :data:`METRICS` key to its :class:`Stat` (absent: no run reported
    it). ``params`` is the deployed model's count (largest over seeds), ``params_low`` the
    smallest (staged layers prune differently per seed) and ``params_built`` the count as
    built, before any stage change (``None`` when it equals ``params`` or is unknown).
    """

    key: str
    name: str
    model: str
    seeds: tuple[int, ...]
    params: int | None
    flops: int | None
    stats: Mapping[str, Stat]
    device: str
    stopped: int = 0
    params_low: int | None = None
    params_built: int | None = None
    provenance: Provenance = field(default_factory=Provenance)
    task: str = ""  # the row's value at the split-by path; rows of one task are compared
    improving: int = 0  # seeds still improving when their budget ran out (kanlab.convergence)
    conv_unknown: int = 0  # seeds whose convergence cannot be told from their row
    no_fit: int = 0  # regression seeds with test R² < R2_FIT
    wall_s: float = 0.0  # run time of the row's runs, summed
    step_times: tuple[float, ...] = ()  # each run's median training-step time (where recorded)
    threads: tuple[int, ...] = ()  # the torch thread counts the runs recorded

    @property
    def fails_to_fit(self) -> bool:
        """A regression row whose mean test R² is below :data:`R2_FIT`."""
        r2 = self.stats.get("test_r2")
        return r2 is not None and r2.mean < R2_FIT

    @property
    def n(self) -> int:
        return len(self.seeds)

    def stat(self, metric: str) -> Stat | None:
        return self.stats.get(metric)

    # names the plotting code reads
    @property
    def test_acc(self) -> Stat | None:
        return self.stat("test")

    @property
    def val_acc(self) -> Stat | None:
        return self.stat("val")

    @property
    def test_selected(self) -> Stat | None:
        return self.stat("test_selected")


@dataclass(frozen=True)
class Comparison:
    """A row against the baseline and the top row on the primary metric.

    ``p_baseline`` / ``p_top`` are Holm-adjusted two-sided Welch p-values (``None``: not
    tested, ``why_baseline`` / ``why_top`` say why); ``delta`` is the difference of means to
    the baseline; ``no_spread`` is true when a test had two groups without spread (its p is
    then 1 or 0, see :func:`~kanlab.results.stats.welch`).
    """

    delta: float | None = None
    p_baseline: float | None = None
    p_top: float | None = None
    why_baseline: str = ""
    why_top: str = ""
    no_spread: bool = False
    p_equiv: float | None = None  # Holm-adjusted Welch TOST p against the baseline
    why_equiv: str = ""


@dataclass(frozen=True)
class StudySummary:
    """An exported Optuna study (``<benchmark>/studies/<study>.json``) in brief."""

    name: str
    directions: tuple[str, ...]
    metrics: tuple[str, ...]
    n_complete: int
    n_pruned: int
    n_failed: int
    best_values: tuple[float, ...] | None
    best_params: Mapping[str, Any]
    best_number: int | None
    n_pareto: int


@dataclass(frozen=True)
class Anchor:
    """An external reference number (not reproduced here), with its protocol and source."""

    name: str
    test_acc: float
    std: float | None
    params: int | None
    protocol: str
    source: str


def plural(n: int, one: str, many: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {one if n == 1 else many}"
