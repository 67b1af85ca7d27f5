"""Leaderboards: ``runs.jsonl`` rows and exported studies -> one row per configuration.

A benchmark directory (``results/<benchmark>/``) holds the append-only ``runs.jsonl`` written
by training, optional exported studies (``studies/*.json``, from ``kanlab study export``) and an
optional ``anchors.yaml`` of external reference numbers. :func:`load_leaderboard` groups the
runs (by ``config_hash`` unless told otherwise), summarises every metric over seeds and returns
a :class:`Leaderboard`, which renders to Markdown, CSV, HTML or a rich table.

Statistics (see :mod:`kanlab.results.stats`): per configuration n, mean, sample std and a 95 %
t confidence interval of the primary metric; the difference of means to a baseline row with a
two-sided Welch p-value, Holm-corrected across the table; a "vs top" mark from Holm-corrected
Welch tests against the top row (``≈ top``: p >= 0.05). Rows with n < 3 are not tested.
Provenance: each configuration's ``code_sha`` values, dirty and unknown runs are shown and
flagged (:mod:`kanlab.provenance`); ``strict=True`` refuses a flagged table.

A column is one entry in :data:`METRICS` (a statistic over seeds read from each run row) or
:data:`COLUMNS` (anything else); the Markdown, CSV, HTML and rich renderings all follow them.

The Markdown is byte-for-byte reproducible from the same inputs: no timestamps, a fixed
ordering with tie-breaks, fixed number formats. Model selection is on validation: the primary
column is the test accuracy at the best-validation checkpoint; the best test accuracy over
epochs ("test-selected") is shown beside it only because the KAN papers' tables report it.

Example:
    >>> lb = load_leaderboard("results/fashion_mnist")  # doctest: +SKIP
    >>> print(lb.to_markdown())  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import functools
import html
import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kanlab.convergence import TAIL, row_converged
from kanlab.errors import InputError
from kanlab.registry import suggest
from kanlab.results.stats import MIN_N_FOR_TEST, Stat, holm, tost, welch

__all__ = [
    "Anchor",
    "COLUMNS",
    "Comparison",
    "ConfigRow",
    "GROUP_BY",
    "SPLIT_BY",
    "leaderboard_command",
    "table_options",
    "write_leaderboard",
    "Leaderboard",
    "METRICS",
    "Metric",
    "REGRESSION_COLUMNS",
    "Provenance",
    "Stat",
    "StudySummary",
    "aggregate",
    "describe_model",
    "load_leaderboard",
    "read_anchors",
    "read_runs",
    "read_studies",
]

GROUP_BY = ("config", "name", "model")
# Rows whose configs differ at this path are separate tasks, never compared with each other
# (`--split-by`): by default the synthetic function of the function-fitting benchmark.
SPLIT_BY = "data.function"
FORMATS = ("md", "csv", "html")
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
            out.append(f"{_plural(self.n_dirty, 'dirty run', 'dirty runs')}")
        if self.n_unknown:
            commits = _plural(self.unknown_commits, "commit", "commits")
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


# --------------------------------------------------------------------------- reading


def read_runs(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``runs.jsonl``.

    A row cut short (a run killed while appending it: the JSON ends early) is skipped with
    a warning on stderr, so one lost row does not hide the table; any other malformed line
    raises :class:`~kanlab.errors.InputError` naming the file and line (exit code 2).
    """
    p = Path(path)
    rows = []
    for i, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if line.lstrip().startswith("{") and not line.rstrip().endswith("}"):
                print(f"kanlab: warning: {p}:{i}: skipped a row cut short (its write was "
                      "interrupted).", file=sys.stderr)
                continue
            raise InputError(f"{p}:{i} is not valid JSON ({exc.msg}); fix or delete that "
                             "line.") from None
        if not isinstance(row, dict):
            raise InputError(f"{p}:{i} must hold a JSON object, but got "
                             f"{type(row).__name__}; fix or delete that line.")
        rows.append(row)
    return rows


def describe_model(config: Mapping[str, Any]) -> str:
    """Short model description from a resolved config: ``kan_mlp 784-64-10 fast_kan``,
    ``timm_backbone resnet18 crrelu``."""
    model = config.get("model") or {}
    if not isinstance(model, Mapping):
        return str(model)
    parts = [str(model.get("name", "?"))]
    if model.get("arch") is not None:  # a wrapped network (timm_backbone)
        parts.append(str(model["arch"]))
    widths = model.get("widths")
    if isinstance(widths, (list, tuple)):
        parts.append("-".join(str(w) for w in widths))
    for key in ("layer", "activation", "activations", "sparsity_layer", "act_layer"):
        value = model.get(key)
        if value is None:
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        names = []
        for item in items:
            if isinstance(item, Mapping):
                hp = {k: _brief(v) for k, v in item.items() if k != "name"}
                extra = ",".join(f"{k}={hp[k]}" for k in sorted(hp))
                names.append(f"{item.get('name')}({extra})" if extra else str(item.get("name")))
            else:
                names.append(str(item))
        parts.append("/".join(dict.fromkeys(names)))
    return " ".join(parts)


def _brief(value: Any) -> str:
    """Hyperparameter text for the model column: nested specs shown by name only."""
    if isinstance(value, Mapping):
        return str(value.get("name", "{...}"))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_brief(v) for v in value) + "]"
    return str(value)


def _group_key(row: Mapping[str, Any], by: str) -> str:
    if by == "config":
        return str(row.get("config_hash") or row.get("name"))
    if by == "name":
        return str(row.get("name"))
    return describe_model(row.get("config") or {})


def aggregate(
    rows: Sequence[Mapping[str, Any]], *, by: str = "config", include_trials: bool = False,
    split_by: str = SPLIT_BY,
) -> list[ConfigRow]:
    """Group rows (last row per (group, seed) wins) and summarise every metric over seeds.

    Args:
        rows: ``runs.jsonl`` rows (schema in the training contract).
        by: ``config`` (``config_hash``), ``name`` or ``model`` (model description).
        include_trials: Keep rows written by search trials (excluded by default: studies
            are summarised from their exports instead).
        split_by: Dotted config path whose value is a row's task (:attr:`ConfigRow.task`).

    Raises:
        ValueError: for an unknown ``by``.
    """
    if by not in GROUP_BY:
        raise InputError(
            f"`by` must be one of {', '.join(GROUP_BY)}, but got by={by!r}.{suggest(by, GROUP_BY)}"
        )
    groups: dict[str, dict[Any, Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("trial") and not include_trials:
            continue
        key, task = _group_key(row, by), _task(row, split_by)
        if task and key != row.get("config_hash"):  # a name or model recurs across tasks
            key = f"{key} [{task}]"
        groups.setdefault(key, {})[row.get("seed")] = row  # a re-run of a seed replaces it
    out = []
    for key, by_seed in groups.items():
        runs = [by_seed[s] for s in sorted(by_seed, key=lambda s: (s is None, s))]
        names = list(dict.fromkeys(str(r.get("name")) for r in runs))
        models = list(dict.fromkeys(describe_model(r.get("config") or {}) for r in runs))
        devices = sorted({str(r.get("device")) for r in runs if r.get("device")})
        params = [int(r["params"]) for r in runs if r.get("params") is not None]
        built = [int(r["params_built"]) for r in runs if r.get("params_built") is not None]
        flops = [r["flops"] for r in runs if r.get("flops") is not None]
        stats = {k: Stat.of(m.value(r) for r in runs) for k, m in METRICS.items()}
        conv = [row_converged(r) for r in runs]
        out.append(
            ConfigRow(
                key=key,
                name=" / ".join(names),
                model=" / ".join(models),
                seeds=tuple(int(r["seed"]) for r in runs if r.get("seed") is not None),
                params=max(params) if params else None,
                params_low=min(params) if params else None,
                params_built=max(built) if built and max(built) != max(params or [0]) else None,
                flops=int(max(flops)) if flops else None,
                stats={k: s for k, s in stats.items() if s is not None},
                device=", ".join(devices),
                stopped=sum(1 for r in runs if r.get("status") == "stopped"),
                provenance=Provenance.of(runs),
                task=_task(runs[0], split_by),
                improving=sum(1 for c, r in zip(conv, runs, strict=True)
                              if c is False and r.get("status") != "stopped"),
                conv_unknown=sum(1 for c in conv if c is None),
                no_fit=sum(1 for r in runs if (v := METRICS["test_r2"].value(r)) is not None
                           and v < R2_FIT),
                wall_s=sum(float(r.get("wall_time_s") or 0.0) for r in runs),
                step_times=tuple(float(r["step_time_s"]) for r in runs
                                 if isinstance(r.get("step_time_s"), (int, float))),
                threads=tuple(sorted({int(r["threads"]) for r in runs
                                      if isinstance(r.get("threads"), int)})),
            )
        )
    return out


def _task(row: Mapping[str, Any], split_by: str = SPLIT_BY) -> str:
    """The run's value at the dotted config path ``split_by`` ("" where it has none)."""
    value: Any = row.get("config") or {}
    for part in split_by.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else _brief(value)


def read_studies(bench_dir: str | Path) -> list[StudySummary]:
    """Summaries of ``<bench_dir>/studies/*.json`` exports, sorted by study name."""
    out = []
    for path in sorted(Path(bench_dir).glob("studies/*.json")):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "trials" not in data:
            continue
        directions = tuple(str(d).lower() for d in data.get("directions") or ["maximize"])
        metrics = tuple(str(m) for m in data.get("metrics") or [])
        trials = data["trials"]
        states = [str(t.get("state", "")).upper() for t in trials]
        complete = [t for t, s in zip(trials, states, strict=True) if s == "COMPLETE"]
        complete = [t for t in complete if t.get("values")]
        best: Mapping[str, Any] | None = None
        pareto = _pareto(complete, directions)
        if len(directions) == 1 and complete:
            sign = 1.0 if directions[0].startswith("max") else -1.0
            best = max(complete, key=lambda t: (sign * float(t["values"][0]), -int(t["number"])))
        elif pareto:
            best = pareto[0]
        out.append(
            StudySummary(
                name=str(data.get("study") or path.stem),
                directions=directions,
                metrics=metrics,
                n_complete=len(complete),
                n_pruned=states.count("PRUNED"),
                n_failed=states.count("FAIL"),
                best_values=tuple(float(v) for v in best["values"]) if best else None,
                best_params=dict(best.get("params") or {}) if best else {},
                best_number=int(best["number"]) if best else None,
                n_pareto=len(pareto),
            )
        )
    return out


def _pareto(trials: list[Mapping[str, Any]], directions: Sequence[str]) -> list[Mapping[str, Any]]:
    signs = [1.0 if d.startswith("max") else -1.0 for d in directions]

    def score(t: Mapping[str, Any]) -> list[float]:
        return [s * float(v) for s, v in zip(signs, t["values"], strict=False)]

    front = []
    for t in trials:
        st = score(t)
        dominated = any(
            all(a >= b for a, b in zip(score(o), st, strict=True)) and score(o) != st
            for o in trials
        )
        if not dominated:
            front.append(t)
    return sorted(front, key=lambda t: [-v for v in score(t)] + [int(t["number"])])


def read_anchors(bench_dir: str | Path) -> list[Anchor]:
    """External reference numbers from ``<bench_dir>/anchors.yaml`` (``anchors:`` list)."""
    path = Path(bench_dir) / "anchors.yaml"
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    items = data.get("anchors", []) if isinstance(data, dict) else data
    out = []
    for i, item in enumerate(items):
        for key in ("name", "test_acc", "protocol", "source"):
            if key not in item:
                raise ValueError(
                    f"{path}: anchor {i} needs a {key!r} key, but got {sorted(item)}."
                )
        out.append(
            Anchor(
                name=str(item["name"]),
                test_acc=float(item["test_acc"]),
                std=float(item["std"]) if item.get("std") is not None else None,
                params=int(item["params"]) if item.get("params") is not None else None,
                protocol=str(item["protocol"]),
                source=str(item["source"]),
            )
        )
    return out


# --------------------------------------------------------------------------- formatting


def _fmt_stat(s: Stat | None, digits: int = 2) -> str:
    if s is None:
        return "–"
    if s.std is None:
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f}"


def _fmt_ci(s: Stat | None, digits: int = 2) -> str:
    ci = None if s is None else s.ci
    return "–" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _fmt_p(p: float) -> str:
    if p < 0.001:
        return "< 0.001"
    text = f"{p:.3f}"
    return f"< {ALPHA:.3f}" if p < ALPHA <= float(text) else text  # 0.0497 is a finding


def _fmt_int(v: int | None) -> str:
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
    text = _fmt_int(r.params)
    if r.params_low is not None and r.params_low != r.params:
        text = f"{r.params_low:,}–{r.params:,}"
    return text + (" ⁷" if r.params_built is not None else "")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


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


def _n_of(r: ConfigRow, lb: Leaderboard) -> int:
    """Seeds in the statistics: those with a finite primary metric."""
    s = r.stat(lb.primary)
    return 0 if s is None else s.n


def _n_text(r: ConfigRow, lb: Leaderboard) -> str:
    n, flags, marks = _n_of(r, lb), [], []
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
    return _fmt_p(c.p_baseline) if c.p_baseline is not None else f"– ({c.why_baseline})"


def _equiv_text(r: ConfigRow, lb: Leaderboard) -> str:
    if r.key in lb.baseline_keys:
        return "–"
    c = lb.comparisons.get(r.key, Comparison())
    if c.p_equiv is None:
        return f"– ({c.why_equiv})"
    mark = "≡" if c.p_equiv < ALPHA else "not shown"
    return f"{mark} (p {_fmt_p(c.p_equiv)})"


def _top_text(r: ConfigRow, lb: Leaderboard) -> str:
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
    "n": Column("n", lambda r, lb: _n_text(r, lb), lambda r, lb: _n_of(r, lb),
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
    "vs_top": Column("vs top ⁵", _top_text, _comparison_value("p_top"), descending=True),
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

FOOTNOTES = (
    "Models are selected on validation (carved from the training set); the primary column is "
    "test accuracy at the best-validation checkpoint, mean ± sample std over the n seeds (no "
    "std for n = 1). 95 % CI: confidence interval of that mean, Student's t with n − 1 "
    "degrees of freedom.",
    "¹ Best test accuracy over epochs, i.e. selected on test, as in the KAN papers' tables "
    "(All-KAN, BSRBF-KAN); optimistic by construction, shown only for comparison with them.",
    "² Matrix-multiply FLOPs per sample of one forward pass, from torch's FLOP counter "
    "(`torch.utils.flop_counter`); it misses elementwise work such as KAN basis functions, "
    "so it under-counts KAN layers. Latency is the honest cost column.",
    "³ Median forward time of one batch on the device shown, measured on a shared, busy "
    "machine: noisy, compare only within one table.",
)


REGRESSION_FOOTNOTES = (
    "Regression: models are selected on validation (lowest validation MSE); the primary "
    "column is the test RMSE (square root of the test set's MSE) at the best-validation "
    "checkpoint, mean ± sample std over the n seeds; lower is better. 95 % CI: confidence "
    "interval of that mean, Student's t with n − 1 degrees of freedom.",
    FOOTNOTES[2],
    FOOTNOTES[3],
)


def _sort_rows(rows: Sequence[ConfigRow], sort: str, lb: Leaderboard | None = None) -> list[
    ConfigRow
]:
    if sort not in COLUMNS:
        raise InputError(
            f"`sort` must be one of {', '.join(COLUMNS)}, but got sort={sort!r}."
            f"{suggest(sort, list(COLUMNS))}"
        )
    col = COLUMNS[sort]
    board = lb if lb is not None else Leaderboard("", tuple(rows))
    descending = METRICS[board.primary].descending if col.follows_primary else col.descending

    def key(r: ConfigRow) -> tuple[Any, ...]:
        v = col.value(r, board)
        if v is None:
            return (r.task, 1, 0, r.name, r.key)
        if isinstance(v, str):
            return (r.task, 0, v, r.name, r.key)
        return (r.task, 0, -v if descending else v, r.name, r.key)

    return sorted(rows, key=key)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows)
    return lines


def _is_plain_mlp(r: ConfigRow) -> bool:
    parts = r.model.split(" ")
    return len(parts) == 3 and parts[0] == "mlp" and parts[2] in PLAIN_ACTIVATIONS


def _no_spread(values: Sequence[float]) -> bool:
    return min(values) == max(values)


def _compare(
    rows: Sequence[ConfigRow], baseline: ConfigRow | None, top: ConfigRow | None,
    primary: str = PRIMARY, margin: float | None = None,
) -> dict[str, Comparison]:
    """Welch tests of every row against ``baseline`` and ``top``, Holm-corrected per family;
    with a ``margin``, Welch TOST equivalence against the baseline (Holm-corrected too).

    A regression row that failed to fit (or a baseline that did) is not tested against the
    baseline: its difference would say only that one side never learnt the function.
    """
    out: dict[str, dict[str, Any]] = {r.key: {} for r in rows}

    def family(ref: ConfigRow | None, name: str, what: str, equivalence: bool = False) -> None:
        ref_stat = None if ref is None else ref.stat(primary)
        keys, raw = [], []
        for r in rows:
            s = r.stat(primary)
            if ref is not None and r.key == ref.key:
                continue
            if name in ("baseline", "equiv") and r.fails_to_fit:
                out[r.key][f"why_{name}"] = "fails to fit ¹⁰"
            elif name in ("baseline", "equiv") and ref is not None and ref.fails_to_fit:
                out[r.key][f"why_{name}"] = "baseline fails to fit ¹⁰"
            elif s is None:
                out[r.key][f"why_{name}"] = "no data"
            elif s.n < MIN_N_FOR_TEST:
                out[r.key][f"why_{name}"] = f"n < {MIN_N_FOR_TEST}"
            elif ref_stat is None or ref_stat.n < MIN_N_FOR_TEST:
                out[r.key][f"why_{name}"] = f"{what} n < {MIN_N_FOR_TEST}"
            elif equivalence:
                keys.append(r.key)
                raw.append(tost(s.values, ref_stat.values, float(margin or 0.0)).p)
            else:
                keys.append(r.key)
                raw.append(welch(s.values, ref_stat.values).p)
                if _no_spread(s.values) and _no_spread(ref_stat.values):
                    out[r.key]["no_spread"] = True
        for k, p in zip(keys, holm(raw), strict=True):
            out[k][f"p_{name}"] = p

    family(baseline, "baseline", "baseline")
    family(top, "top", "top")
    if margin is not None:
        family(baseline, "equiv", "baseline", equivalence=True)
    base_stat = baseline.stat(primary) if baseline is not None else None
    result = {}
    for r in rows:
        s = r.stat(primary)
        delta = s.mean - base_stat.mean if s is not None and base_stat is not None else None
        result[r.key] = Comparison(delta=delta, **out[r.key])
    return result


@dataclass(frozen=True)
class Leaderboard:
    """Aggregated rows of one benchmark plus its statistics, study summaries and anchors.

    ``baseline`` names the baseline row (a row name or key; comma-separated names, one per
    task, when ``split_by`` splits the table); ``None`` picks the plain MLP (a row whose model
    is ``mlp`` with one of :data:`PLAIN_ACTIVATIONS`; the one named ``mlp`` when there are
    several) and, without one, the top row. Rows with different values at the config path
    ``split_by`` are separate tasks, each with its own baseline, top row and Holm correction.
    The top row has the best mean of the primary metric (``primary``: :data:`PRIMARY`, test
    accuracy, highest first; for regression :data:`PRIMARY_REGRESSION`, test RMSE, lowest
    first) among the rows with at least :data:`MIN_N_FOR_TEST` seeds (all rows when none has),
    whatever the display order.
    """

    benchmark: str
    rows: tuple[ConfigRow, ...]
    studies: tuple[StudySummary, ...] = ()
    anchors: tuple[Anchor, ...] = ()
    n_runs: int = 0
    sort: str = "test"
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    command: str = field(default="")
    baseline: str | None = None
    primary: str = PRIMARY
    split_by: str = SPLIT_BY
    margin: float | None = None  # equivalence margin ε (primary metric's units); None: no TOST

    @functools.cached_property
    def baselines(self) -> tuple[str, ...]:
        """The names given as ``baseline`` (comma-separated), in order."""
        names = (self.baseline or "").split(",")
        return tuple(n.strip() for n in names if n.strip())

    @functools.cached_property
    def tasks(self) -> dict[str, tuple[ConfigRow, ...]]:
        """Rows by task (:attr:`ConfigRow.task`); rows of different tasks are never compared."""
        out: dict[str, list[ConfigRow]] = {}
        for r in self.rows:
            out.setdefault(r.task, []).append(r)
        return {t: tuple(rs) for t, rs in sorted(out.items())}

    def _top_of(self, rows: Sequence[ConfigRow]) -> str | None:
        stats = [(s, r) for r in rows if (s := r.stat(self.primary)) is not None]
        tested = [(s, r) for s, r in stats if s.n >= MIN_N_FOR_TEST]
        scored = [(s.mean, r) for s, r in tested or stats]  # one lucky seed is not the top
        if not scored:
            return None
        sign = -1.0 if METRICS[self.primary].descending else 1.0
        best = min(scored, key=lambda t: (sign * t[0], t[1].name, t[1].key))
        return best[1].key

    def _baseline_of(self, rows: Sequence[ConfigRow]) -> str | None:
        return self._choose_baseline(rows)[0]

    def _choose_baseline(self, rows: Sequence[ConfigRow]) -> tuple[str | None, str]:
        """The baseline row's key among ``rows`` and how it was chosen (footnote text)."""
        for name in self.baselines:
            for r in rows:
                if name in (r.name, r.key):
                    return r.key, "chosen with `--baseline`"
        plain = [r for r in rows if _is_plain_mlp(r) and r.stat(self.primary) is not None]
        named = [r for r in plain if r.name == "mlp"]
        if named:
            return named[0].key, ("the plain MLP" if len(plain) == 1
                                  else "the plain MLP named `mlp`")
        if len(plain) == 1:
            return plain[0].key, "the plain MLP"
        why = "no plain MLP" if not plain else "several plain MLPs, none named `mlp`"
        return self._top_of(rows), f"the top row, as the table has {why}"

    @functools.cached_property
    def top_keys(self) -> frozenset[str]:
        """The top row of each task."""
        return frozenset(k for rows in self.tasks.values() if (k := self._top_of(rows)))

    @functools.cached_property
    def baseline_keys(self) -> frozenset[str]:
        """The baseline row of each task."""
        _ = self.baseline_key  # validates ``baseline``
        return frozenset(k for rows in self.tasks.values() if (k := self._baseline_of(rows)))

    @functools.cached_property
    def top_key(self) -> str | None:
        return self._top_of(self.rows)

    @functools.cached_property
    def baseline_key(self) -> str | None:
        names = [r.name for r in self.rows]
        for name in self.baselines:
            if not any(name in (r.name, r.key) for r in self.rows):
                raise InputError(
                    f"`--baseline` must name rows of the table, but got {name!r}."
                    f"{suggest(name, names)}"
                )
        return self._baseline_of(self.rows)

    @functools.cached_property
    def comparisons(self) -> dict[str, Comparison]:
        out: dict[str, Comparison] = {}
        for rows in self.tasks.values():
            by_key = {r.key: r for r in rows}
            base = by_key.get(self._baseline_of(rows) or "")
            top = by_key.get(self._top_of(rows) or "")
            out.update(_compare(rows, base, top, self.primary, self.margin))
        return out

    def row(self, key: str | None) -> ConfigRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def sorted_rows(self) -> list[ConfigRow]:
        return _sort_rows(self.rows, self.sort, self)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and cell texts, rank first, in sort order."""
        headers = ["#"] + [COLUMNS[c].header for c in self.columns]
        body = [
            [str(i)] + [COLUMNS[c].text(r, self) for c in self.columns]
            for i, r in enumerate(self.sorted_rows(), start=1)
        ]
        return headers, body

    def provenance_problems(self) -> list[str]:
        """``name (problem; problem)`` for every configuration with flagged provenance."""
        return [
            f"{r.name} ({'; '.join(r.provenance.problems)})"
            for r in self.sorted_rows() if r.provenance.problems
        ]

    def check_strict(self) -> None:
        """Refuse (InputError, one line) a table whose rows are not from one clean code each,
        or with :data:`STILL_IMPROVING_MAX` or more of its runs still improving or unknown."""
        self.check_provenance()
        improving, unknown, runs = self.still_improving()
        if runs and (improving + unknown) >= STILL_IMPROVING_MAX * runs:
            names = ", ".join(f"{r.name} ({r.improving + r.conv_unknown}/{r.n})"
                              for r in self.sorted_rows() if r.improving or r.conv_unknown)
            raise InputError(
                f"`--strict` needs fewer than {100 * STILL_IMPROVING_MAX:.0f} % of the table's "
                f"runs still improving when their budget ran out, but got {improving + unknown} "
                f"of {runs} (still improving or unknown): {names}."
            )

    def check_provenance(self) -> None:
        """Refuse (InputError, one line) a table whose rows are not from one clean code each."""
        bad = self.provenance_problems()
        if bad:
            raise InputError(
                f"`--strict` needs every configuration's runs from one clean code version, but "
                f"{_plural(len(bad), 'configuration is', 'configurations are')} not: "
                f"{', '.join(bad)}."
            )

    def notes(self) -> list[str]:
        """Every footnote of the table, in order (depends on the rows shown)."""
        base = self.row(self.baseline_key)
        base_name = f"`{base.name}`" if base is not None else "none"
        how = self._choose_baseline(self.rows)[1]
        if len(self.tasks) > 1:
            what = " (the synthetic function)" if self.split_by == SPLIT_BY else ""
            named = [self._choose_baseline(rows)[1] == "chosen with `--baseline`"
                     for rows in self.tasks.values()]
            chosen = ("the row named with `--baseline`" if all(named) else
                      "the row named with `--baseline` where the task has one, else its plain "
                      "MLP (else its top row)" if any(named) else
                      "its plain MLP (else its top row)")
            base_name, how = "per task", (
                f"rows are split into tasks by their config's `{self.split_by}`{what}, and "
                "each row is compared only with rows of its own task: the baseline of a task "
                f"is {chosen}, top is the task's best row; Holm corrections are per task"
            )
        notes = list(FOOTNOTES) if self.primary == PRIMARY else list(REGRESSION_FOOTNOTES)
        unit = "points" if METRICS[self.primary].percent else "the metric's units"
        notes.append(
            f"⁴ Baseline: {base_name} ({how}). Δ: difference of the mean to the baseline's, in "
            f"{unit}. p: two-sided Welch t test (unequal variances, `scipy.stats.ttest_ind`) of "
            "the row's seeds against the baseline's, Holm-corrected over all rows tested "
            f"against the baseline; a difference is a finding only where p < {ALPHA}. Rows "
            f"with n < {MIN_N_FOR_TEST} (or a baseline with n < {MIN_N_FOR_TEST}) are not "
            "tested: with so few seeds the variance, and so the test, means nothing."
            + (" Two rows whose seeds show no spread at all get p = 1 when their values are "
               "equal, else 0." if any(c.no_spread for c in self.comparisons.values()) else "")
        )
        notes.append(
            f"⁵ top: the {'highest' if METRICS[self.primary].descending else 'lowest'} mean in "
            "the primary column. ≈ top: statistically "
            "indistinguishable from the top row, i.e. the two-sided Welch test against the top "
            f"row, Holm-corrected over all rows tested against it, gives p ≥ {ALPHA}; below: "
            f"p < {ALPHA}. Indistinguishable is not equal: at small n real gaps go undetected."
        )
        versions = sorted({s for r in self.rows for s in r.provenance.code_shas})
        unknown = sum(r.provenance.n_unknown for r in self.rows)
        notes.append(
            "⁶ code: the git tree hash of kanlab/ (`code_sha`, first 7 digits) the runs ran; "
            "rows with the same hash ran the same code. mixed: the configuration's runs come "
            "from several code versions; dirty: runs made with uncommitted changes in kanlab/; "
            + ("unknown provenance: rows without a code hash (run outside a git checkout, "
               "e.g. from an installed wheel, or recorded before code_sha and git_dirty were "
               "kept). " if unknown else  # (the committed tables keep their wording)
               "unknown provenance: rows recorded before code_sha and git_dirty were kept. ")
            + "`kanlab leaderboard --strict` refuses a table with any of these, and one whose "
            "rows ran a code that is neither the current kanlab/ nor tied to it by the "
            "directory's verified.jsonl (`kanlab reproduce DIR --verify`). This table: "
            f"{_plural(len(versions), 'code version', 'code versions')}"
            + (f", {_plural(unknown, 'run', 'runs')} of unknown provenance" if unknown else "")
            + "."
        )
        built = [r for r in self.sorted_rows() if r.params_built is not None]
        if built:
            notes.append(
                "⁷ params: the deployed model (for layers trained in stages, e.g. S-KAN, the "
                "final, pruned stage; a range when the seeds pruned differently). As built, "
                "before any stage change: "
                + "; ".join(f"{r.name} {r.params_built:,}" for r in built) + "."
            )
        if any(_n_of(r, self) < r.n or r.stopped for r in self.rows):
            notes.append(
                "⁸ n counts the seeds whose primary metric is finite; the statistics use only "
                "those. non-finite: seeds that diverged (NaN or infinite loss), left out, so "
                "such a row looks better than its runs were. stopped: runs that ended before "
                "`max_epochs` for another reason than a plateau of the validation metric (a "
                "search pruner, a diverged loss, Ctrl-C), included in the statistics."
            )
        notes.append(self._convergence_note())
        if any(r.no_fit for r in self.rows):
            notes.append(
                f"¹⁰ not fitted: seeds whose test R² is below {R2_FIT}. A row whose mean test R² "
                f"is below {R2_FIT} fails to fit: it is not tested against the baseline, and "
                "when the baseline fails to fit no row of its task is, since a difference to a "
                "model that never learnt the function is no win for the other side."
            )
        if self.margin is not None:
            unit = "points" if METRICS[self.primary].percent else "in the metric's units"
            notes.append(
                f"¹¹ ≡: equivalent to the baseline within ε = {self.margin:g} {unit} (set in "
                "the manifest's `leaderboard: equivalence_margin:`): Welch two-one-sided-tests "
                "(TOST; H0: the means differ by ε or more; the larger of the one-sided p-values "
                "of `scipy.stats.ttest_ind(equal_var=False)` against −ε and +ε), "
                f"Holm-corrected over the rows tested; ≡ where p < {ALPHA}. not shown: "
                "equivalence within ε is not shown at this n, which is not a difference shown."
            )
        notes.append(self._cost_note())
        return notes

    def still_improving(self) -> tuple[int, int, int]:
        """``(still improving, unknown, runs)`` over the table's runs."""
        runs = sum(r.n for r in self.rows)
        return (sum(r.improving for r in self.rows), sum(r.conv_unknown for r in self.rows),
                runs)

    def _convergence_note(self) -> str:
        improving, unknown, runs = self.still_improving()
        share = f" ({100 * improving / runs:.0f} %)" if runs else ""
        return (
            "⁹ converged (`kanlab.convergence`): a run converged when early stopping ended it on "
            "a plateau of the validation metric, or when it trained its whole budget "
            "(`max_epochs`) and the best validation value of its last "
            f"{100 * TAIL:.0f} % of selectable epochs (at least one) did not beat the best before "
            "them by more than `trainer.early_stopping_min_delta`; still improving: it did, so "
            "the budget, not the model, may decide the comparison. Rows recorded before the "
            "`converged` field are judged from their selected epoch (the same rule at "
            "min_delta 0). This table: "
            f"{_plural(improving, 'run', 'runs')} of {runs} still improving{share}"
            + (f", {unknown} unknown" if unknown else "")
            + f"; `kanlab leaderboard --strict` refuses a table with "
            f"{100 * STILL_IMPROVING_MAX:.0f} % or more."
        )

    def _cost_note(self) -> str:
        hours = sum(r.wall_s for r in self.rows) / 3600
        steps = sorted(t for r in self.rows for t in r.step_times)
        runs = sum(r.n for r in self.rows)
        if steps:
            import statistics

            step = (f"median training-step time {1000 * statistics.median(steps):.2f} ms (median "
                    f"over the {len(steps)} runs that record `step_time_s`, each its own median)")
        else:
            step = "training-step time not recorded by these rows (rows keep `step_time_s` now)"
        threads = sorted({t for r in self.rows for t in r.threads})
        thread_text = (f"torch threads per run: {', '.join(map(str, threads))}" if threads
                       else "threads not recorded by these rows")
        return (f"Cost: the {_plural(runs, 'run', 'runs')} took {hours:.2f} h of run time in total (sum of the rows' "
                f"`wall_time_s`); {step}; {thread_text}.")

    def _header_line(self) -> str:
        runs = _plural(self.n_runs, "run", "runs")
        studies = _plural(len(self.studies), "exported study", "exported studies")
        return (
            f"Generated by `{self.command}` from `runs.jsonl` ({runs}) and {studies}. Do not "
            "edit by hand: rerun the command."
        )

    def to_markdown(self) -> str:
        """The ``leaderboard.md`` text (deterministic)."""
        out = [f"# Leaderboard: {self.benchmark}", ""]
        if self.command:
            out += [self._header_line(), ""]
        headers, body = self.table()
        out.extend(_md_table(headers, body) if body else ["(no runs yet)"])
        out.append("")
        for note in self.notes():
            out += [note, ""]
        out.pop()
        if self.studies:
            out += ["", "## Search studies (from exported studies)", ""]
            out.extend(_md_table(*self._study_table()))
        if self.anchors:
            out += ["", "## Anchors: external reference numbers (not reproduced here)", "",
                    ANCHOR_NOTE, ""]
            out.extend(_md_table(*self._anchor_table()))
        return "\n".join(out) + "\n"

    def _study_table(self) -> tuple[list[str], list[list[str]]]:
        headers = ["study", "objective", "trials (complete/pruned/failed)", "best", "best params"]
        body = []
        for s in self.studies:
            objective = ", ".join(
                f"{d} {m}" for d, m in zip(s.directions, s.metrics or ("value",) * 9, strict=False)
            )
            if s.best_values is None:
                best = "–"
            elif len(s.best_values) == 1:
                best = f"{s.best_values[0]:.4g} (trial {s.best_number})"
            else:
                vals = ", ".join(f"{v:.4g}" for v in s.best_values)
                best = f"{s.n_pareto} on Pareto front; e.g. trial {s.best_number}: {vals}"
            params = ", ".join(f"{k}={_short(v)}" for k, v in sorted(s.best_params.items()))
            body.append(
                [s.name, objective, f"{s.n_complete}/{s.n_pruned}/{s.n_failed}", best,
                 params or "–"]
            )
        return headers, body

    def _anchor_table(self) -> tuple[list[str], list[list[str]]]:
        headers = ["reference model", "params", "test acc %", "protocol", "source"]
        body = [
            [
                a.name,
                _fmt_int(a.params),
                f"{a.test_acc:.2f}" + (f" ± {a.std:.2f}" if a.std is not None else ""),
                a.protocol,
                a.source,
            ]
            for a in self.anchors
        ]
        return headers, body

    def to_csv(self) -> str:
        """Raw numbers, one line per configuration: every metric's n/mean/std, the primary
        metric's CI, the comparisons and the provenance."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["rank", "key", "name", "model", "n", "seeds", "params", "params_low",
                  "params_built", "flops", "device"]
        for k in METRICS:
            header += [f"{k}_n", f"{k}_mean", f"{k}_std"]
        header += [f"{self.primary}_ci_low", f"{self.primary}_ci_high", "baseline", "delta",
                   "p_baseline_holm", "p_top_holm", "vs_top", "code_shas", "dirty_runs",
                   "unknown_provenance_runs", "p_equiv_holm", "still_improving",
                   "convergence_unknown", "not_fitted", "wall_time_s"]
        writer.writerow(header)

        def num(v: float | None) -> str:
            return "" if v is None else f"{v:.6g}"

        for i, r in enumerate(self.sorted_rows(), start=1):
            line: list[Any] = [i, r.key, r.name, r.model, r.n, " ".join(map(str, r.seeds)),
                               r.params, r.params_low, r.params_built, r.flops, r.device]
            for k in METRICS:
                st = r.stat(k)
                line += ["", "", ""] if st is None else [st.n, num(st.mean), num(st.std)]
            primary = r.stat(self.primary)
            ci = primary.ci if primary is not None else None
            c = self.comparisons.get(r.key, Comparison())
            line += [num(ci[0]) if ci else "", num(ci[1]) if ci else "",
                     int(r.key in self.baseline_keys), num(c.delta), num(c.p_baseline),
                     num(c.p_top), _top_text(r, self), " ".join(r.provenance.code_shas),
                     r.provenance.n_dirty, r.provenance.n_unknown, num(c.p_equiv),
                     r.improving, r.conv_unknown, r.no_fit, num(r.wall_s)]
            writer.writerow(line)
        return buf.getvalue()

    def to_html(self) -> str:
        """A standalone HTML page: the table, its notes, studies and anchors (no scripts)."""
        esc = html.escape

        def table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
            parts = ["<table border=\"1\"><thead><tr>"]
            parts.extend(f"<th>{esc(h)}</th>" for h in headers)
            parts.append("</tr></thead><tbody>")
            parts.extend(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in body
            )
            parts.append("</tbody></table>")
            return parts

        parts = [
            "<!DOCTYPE html>",
            f"<html><head><meta charset=\"utf-8\"><title>Leaderboard: {esc(self.benchmark)}"
            "</title></head><body>",
            f"<h1>Leaderboard: {esc(self.benchmark)}</h1>",
        ]
        if self.command:
            parts.append(f"<p>{esc(self._header_line())}</p>")
        parts.extend(table(*self.table()))
        parts.extend(f"<p><small>{esc(n)}</small></p>" for n in self.notes())
        if self.studies:
            parts.append("<h2>Search studies (from exported studies)</h2>")
            parts.extend(table(*self._study_table()))
        if self.anchors:
            parts.append("<h2>Anchors: external reference numbers (not reproduced here)</h2>")
            parts.append(f"<p>{esc(ANCHOR_NOTE)}</p>")
            parts.extend(table(*self._anchor_table()))
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def render(self, fmt: str) -> str:
        """``md``, ``csv`` or ``html`` text."""
        if fmt == "md":
            return self.to_markdown()
        if fmt == "csv":
            return self.to_csv()
        if fmt == "html":
            return self.to_html()
        raise InputError(
            f"`format` must be one of {', '.join(FORMATS)}, but got format={fmt!r}."
            f"{suggest(fmt, FORMATS)}"
        )

    def rich_table(self) -> Any:
        """A ``rich.table.Table`` for the terminal."""
        from rich.table import Table
        from rich.text import Text

        headers, body = self.table()
        table = Table(title=Text(f"Leaderboard: {self.benchmark}"), title_justify="left")
        for h in headers:
            table.add_column(Text(h), overflow="fold")
        for row in body:  # plain text: a description's [...] is not markup
            table.add_row(*(Text(str(cell)) for cell in row))
        return table


ANCHOR_NOTE = (
    "Numbers reported by other projects under their own protocol; they are context, not "
    "results of this code, and are not ranked with the table above."
)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def load_leaderboard(
    bench_dir: str | Path,
    *,
    by: str = "config",
    sort: str = "test",
    include_trials: bool = False,
    command: str = "",
    baseline: str | None = None,
    strict: bool = False,
    split_by: str = SPLIT_BY,
    margin: float | None = None,
) -> Leaderboard:
    """Read a benchmark directory and aggregate it.

    Args:
        bench_dir: ``results/<benchmark>`` holding ``runs.jsonl`` (and optionally
            ``studies/*.json``, ``anchors.yaml``).
        by: Grouping: ``config`` (default), ``name`` or ``model``.
        sort: Column key to sort by (see :data:`COLUMNS`); accuracies sort descending.
        include_trials: Keep rows that search trials wrote to ``runs.jsonl``.
        command: The command line stated in the Markdown header.
        baseline: Name (or key) of the baseline row, comma-separated names for a split table;
            ``None``: the plain MLP, else the top row.
        strict: Refuse a table with configurations of mixed, dirty or unknown provenance,
            with :data:`STILL_IMPROVING_MAX` of its runs or more still improving, or with rows
            from a code that is neither the current one nor tied to it by ``verified.jsonl``
            (:func:`check_current_code`).
        split_by: Dotted config path: rows whose configs differ there are separate tasks.
        margin: Equivalence margin ε for Welch TOST against the baseline (primary metric's
            units; accuracy in points); adds the ``≡`` column.

    Raises:
        InputError: if the directory has neither ``runs.jsonl`` nor study exports, ``by`` /
            ``sort`` / ``baseline`` is unknown, or ``strict`` and a provenance flag is set.
    """
    path = Path(bench_dir)
    runs_file = path / "runs.jsonl"
    runs = read_runs(runs_file) if runs_file.is_file() else []
    studies = read_studies(path)
    if not runs and not studies:
        raise InputError(
            f"`bench_dir` must hold runs.jsonl or studies/*.json, but got bench_dir={str(path)!r}."
        )
    rows = aggregate(runs, by=by, include_trials=include_trials, split_by=split_by)
    _sort_rows(rows, sort)  # validates ``sort`` early
    regression = _is_regression(runs)
    primary = PRIMARY_REGRESSION if regression else PRIMARY
    if regression and sort == PRIMARY:
        sort = PRIMARY_REGRESSION
    benchmark = str(next((r.get("benchmark") for r in runs if r.get("benchmark")), path.name))
    lb = Leaderboard(
        benchmark=benchmark,
        rows=tuple(rows),
        studies=tuple(studies),
        anchors=tuple(read_anchors(path)),
        n_runs=sum(1 for r in runs if include_trials or not r.get("trial")),
        sort=sort,
        command=command,
        baseline=baseline,
        primary=primary,
        columns=_with_equiv(REGRESSION_COLUMNS if regression else DEFAULT_COLUMNS, margin),
        split_by=split_by,
        margin=margin,
    )
    _ = lb.baseline_key  # validates ``baseline`` early
    if strict:
        lb.check_strict()
        check_current_code(path, lb)
    return lb


def check_current_code(bench: Path, lb: Leaderboard) -> None:
    """Refuse (InputError, one line) rows that ran neither the current kanlab/ code nor a code
    that ``bench/verified.jsonl`` ties to it (``kanlab reproduce DIR --verify``). Outside a
    git checkout the current code is unknown and nothing is refused."""
    from kanlab.provenance import code_version
    from kanlab.results.verified import tied_codes

    current = code_version().code_sha
    if current is None:
        return
    tied = tied_codes(bench, current)
    stale = sorted({s for r in lb.rows for s in r.provenance.code_shas} - tied)
    if stale:
        raise InputError(
            f"`--strict` needs the rows to come from the current kanlab/ code {current[:7]} or "
            f"a code verified.jsonl ties to it, but got code {', '.join(x[:7] for x in stale)}: "
            f"run `kanlab reproduce {bench} --verify` (or re-run the table)."
        )


def _with_equiv(columns: tuple[str, ...], margin: float | None) -> tuple[str, ...]:
    """The TOST column after the p column when a margin is set."""
    if margin is None:
        return columns
    if not margin > 0:
        raise InputError(f"`margin` must be > 0, but got margin={margin}.")
    i = columns.index("p") + 1
    return (*columns[:i], "equiv", *columns[i:])


def _is_regression(runs: Sequence[Mapping[str, Any]]) -> bool:
    """A regression table: its runs report R² (FunctionRegressor) and none reports accuracy."""
    metrics: list[Mapping[str, Any]] = [
        m for r in runs if isinstance(m := r.get("metrics"), Mapping)
    ]
    return (any("test/r2" in m or "val/r2" in m for m in metrics)
            and not any("test/acc" in m or "val/acc" in m for m in metrics))


# --------------------------------------------------------------------------- writing

MANIFEST = "reproduce.yaml"
TABLE_KEYS = ("baseline", "split_by", "equivalence_margin")  # a manifest's `leaderboard:` options


def table_options(bench: Path) -> dict[str, Any]:
    """The ``leaderboard:`` options of ``bench/reproduce.yaml`` (``{}`` without one).

    A results directory whose table needs a baseline or a split names them there, so that
    ``kanlab leaderboard DIR`` and ``kanlab reproduce DIR`` regenerate the same table::

        leaderboard: {split_by: model.arch, baseline: "vit_gelu,resnet_relu"}
        leaderboard: {equivalence_margin: 0.5}   # TOST margin, primary metric's units

    Raises:
        ConfigError: for an unknown option, a ``baseline`` / ``split_by`` that is not a
            non-empty string or an ``equivalence_margin`` that is not a number > 0.
    """
    from kanlab.errors import ConfigError

    path = bench / MANIFEST
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    options = data.get("leaderboard") if isinstance(data, Mapping) else None
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"`leaderboard` in {path} must be a mapping of "
                          f"{', '.join(TABLE_KEYS)}, but got {options!r}.")
    for key, value in options.items():
        if key not in TABLE_KEYS:
            raise ConfigError(f"`leaderboard` keys in {path} must be among "
                              f"{', '.join(TABLE_KEYS)}, but got {key!r}."
                              f"{suggest(str(key), TABLE_KEYS)}")
        if key == "equivalence_margin":
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not value > 0):
                raise ConfigError(f"`leaderboard.equivalence_margin` in {path} must be a "
                                  f"number > 0, but got {value!r}.")
        elif not isinstance(value, str) or not value.strip():
            raise ConfigError(f"`leaderboard.{key}` in {path} must be a non-empty string, "
                              f"but got {value!r}.")
    return {str(k): (float(v) if k == "equivalence_margin" else str(v))
            for k, v in options.items()}


def leaderboard_command(
    bench: Path, *, by: str = "config", sort: str = "test", include_trials: bool = False,
    baseline: str | None = None, split_by: str = SPLIT_BY, margin: float | None = None,
    where: str | None = None,
) -> str:
    """The ``kanlab leaderboard`` command line that regenerates ``bench``'s table.

    ``where`` names the benchmark in it (default ``results/<name>``, as the committed tables
    say wherever they are regenerated; the CLI passes ``NAME --results-dir DIR`` for a
    benchmark it found in another results directory, such as the demo's).
    """
    return " ".join(
        ["kanlab leaderboard", where or f"results/{bench.name}"]
        + ([f"--by {by}"] if by != "config" else [])
        + ([f"--sort {sort}"] if sort != "test" else [])
        + (["--include-trials"] if include_trials else [])
        + ([f"--split-by {split_by}"] if split_by != SPLIT_BY else [])
        + ([f"--baseline {baseline}"] if baseline is not None else [])
        + ([f"--equivalence-margin {margin:g}"] if margin is not None else [])
    )


def write_leaderboard(
    bench: Path, *, fmt: str = "md", output: Path | None = None, stdout: bool = False,
    by: str = "config", sort: str = "test", include_trials: bool = False,
    baseline: str | None = None, strict: bool = False, split_by: str | None = None,
    margin: float | None = None, where: str | None = None,
) -> tuple[Leaderboard, Path | None]:
    """Render ``bench``'s leaderboard to ``output`` (default ``bench/leaderboard.<fmt>``).

    ``baseline`` and ``split_by`` default to the manifest's ``leaderboard:`` options
    (:func:`table_options`), then to the plain MLP and :data:`SPLIT_BY`. Returns the
    leaderboard and the file written (``None`` with ``stdout``).
    """
    options = table_options(bench)
    baseline = baseline if baseline is not None else options.get("baseline")
    split_by = split_by if split_by is not None else options.get("split_by", SPLIT_BY)
    margin = margin if margin is not None else options.get("equivalence_margin")
    command = leaderboard_command(bench, by=by, sort=sort, include_trials=include_trials,
                                  baseline=baseline, split_by=split_by, margin=margin,
                                  where=where)
    lb = load_leaderboard(bench, by=by, sort=sort, include_trials=include_trials,
                          command=command, baseline=baseline, strict=strict, split_by=split_by,
                          margin=margin)
    text = lb.render(fmt)
    if stdout:
        sys.stdout.write(text)
        return lb, None
    out = output if output is not None else bench / f"leaderboard.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return lb, out
