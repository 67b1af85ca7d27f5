"""Aggregation: ``runs.jsonl`` rows -> one :class:`~kanlab.results.records.ConfigRow` per
configuration, and the statistics between rows.

Per configuration (:func:`aggregate`): n, mean, sample std and a 95 % t confidence interval
of every metric (:class:`~kanlab.results.stats.Stat`), the provenance, the convergence marks
(seeds still improving or of unknown convergence, :mod:`kanlab.convergence`), regression
seeds that did not fit, and the cost (run time, step times, threads). Between rows of one
task (:func:`compare`): the difference of means to the baseline row with a two-sided Welch
p-value, Holm-corrected across the task; Welch tests against the top row; with a margin,
Welch TOST equivalence to the baseline. Rows with n < 3 are not tested. :func:`top_of` and
:func:`choose_baseline` pick those two rows; :func:`cost` and :func:`still_improving` sum a
table's cost line and convergence marks.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kanlab.convergence import row_converged
from kanlab.errors import InputError
from kanlab.registry import suggest
from kanlab.results.reading import brief, describe_model
from kanlab.results.records import (
    GROUP_BY,
    METRICS,
    PLAIN_ACTIVATIONS,
    PRIMARY,
    R2_FIT,
    SPLIT_BY,
    Comparison,
    ConfigRow,
    Provenance,
)
from kanlab.results.stats import MIN_N_FOR_TEST, Stat, holm, tost, welch

__all__ = ["Cost", "aggregate", "choose_baseline", "compare", "cost", "is_regression",
           "still_improving", "task_of", "top_of"]


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
        InputError: for an unknown ``by``.
    """
    if by not in GROUP_BY:
        raise InputError(
            f"`by` must be one of {', '.join(GROUP_BY)}, but got by={by!r}.{suggest(by, GROUP_BY)}"
        )
    groups: dict[str, dict[Any, Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("trial") and not include_trials:
            continue
        key, task = _group_key(row, by), task_of(row, split_by)
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
                task=task_of(runs[0], split_by),
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


def task_of(row: Mapping[str, Any], split_by: str = SPLIT_BY) -> str:
    """The run's value at the dotted config path ``split_by`` ("" where it has none)."""
    value: Any = row.get("config") or {}
    for part in split_by.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else brief(value)


def _is_plain_mlp(r: ConfigRow) -> bool:
    parts = r.model.split(" ")
    return len(parts) == 3 and parts[0] == "mlp" and parts[2] in PLAIN_ACTIVATIONS


def _no_spread(values: Sequence[float]) -> bool:
    return min(values) == max(values)


def compare(
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


def is_regression(runs: Sequence[Mapping[str, Any]]) -> bool:
    """A regression table: its runs report R² (FunctionRegressor) and none reports accuracy."""
    metrics: list[Mapping[str, Any]] = [
        m for r in runs if isinstance(m := r.get("metrics"), Mapping)
    ]
    return (any("test/r2" in m or "val/r2" in m for m in metrics)
            and not any("test/acc" in m or "val/acc" in m for m in metrics))


def top_of(rows: Sequence[ConfigRow], primary: str) -> str | None:
    """The key of the row with the best mean of ``primary`` among the rows with at least
    ``MIN_N_FOR_TEST`` seeds (all rows when none has); ties broken by name, then key."""
    stats = [(s, r) for r in rows if (s := r.stat(primary)) is not None]
    tested = [(s, r) for s, r in stats if s.n >= MIN_N_FOR_TEST]
    scored = [(s.mean, r) for s, r in tested or stats]  # one lucky seed is not the top
    if not scored:
        return None
    sign = -1.0 if METRICS[primary].descending else 1.0
    best = min(scored, key=lambda t: (sign * t[0], t[1].name, t[1].key))
    return best[1].key


def choose_baseline(
    rows: Sequence[ConfigRow], names: Sequence[str], primary: str
) -> tuple[str | None, str]:
    """The baseline row's key among ``rows`` and how it was chosen (footnote text): the
    first of ``names`` (row names or keys) found, else the plain MLP, else the top row."""
    for name in names:
        for r in rows:
            if name in (r.name, r.key):
                return r.key, "chosen with `--baseline`"
    plain = [r for r in rows if _is_plain_mlp(r) and r.stat(primary) is not None]
    named = [r for r in plain if r.name == "mlp"]
    if named:
        return named[0].key, ("the plain MLP" if len(plain) == 1
                              else "the plain MLP named `mlp`")
    if len(plain) == 1:
        return plain[0].key, "the plain MLP"
    why = "no plain MLP" if not plain else "several plain MLPs, none named `mlp`"
    return top_of(rows, primary), f"the top row, as the table has {why}"


def still_improving(rows: Sequence[ConfigRow]) -> tuple[int, int, int]:
    """``(still improving, unknown, runs)`` over the rows' runs."""
    runs = sum(r.n for r in rows)
    return (sum(r.improving for r in rows), sum(r.conv_unknown for r in rows), runs)


@dataclass(frozen=True)
class Cost:
    """What a table's runs cost: run time, training-step time and threads."""

    runs: int
    hours: float  # sum of the rows' wall_time_s
    n_steps: int  # runs that record step_time_s
    step_median: float | None  # median over those runs of each run's median step time
    threads: tuple[int, ...]  # the torch thread counts recorded


def cost(rows: Sequence[ConfigRow]) -> Cost:
    """The table's :class:`Cost` line."""
    steps = sorted(t for r in rows for t in r.step_times)
    return Cost(
        runs=sum(r.n for r in rows),
        hours=sum(r.wall_s for r in rows) / 3600,
        n_steps=len(steps),
        step_median=statistics.median(steps) if steps else None,
        threads=tuple(sorted({t for r in rows for t in r.threads})),
    )
