"""Leaderboards: ``runs.jsonl`` rows and exported studies -> one row per configuration.

A benchmark directory (``results/<benchmark>/``) holds the append-only ``runs.jsonl`` written
by training, optional exported studies (``studies/*.json``, from ``kanlab study export``) and an
optional ``anchors.yaml`` of external reference numbers. :func:`load_leaderboard` groups the
runs (by ``config_hash`` unless told otherwise), averages over seeds and returns a
:class:`Leaderboard`, which renders to Markdown, CSV, HTML or a rich table.

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
import html
import io
import json
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kanlab.registry import suggest

__all__ = [
    "Anchor",
    "COLUMNS",
    "ConfigRow",
    "GROUP_BY",
    "Leaderboard",
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
FORMATS = ("md", "csv", "html")


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation and count of one metric over seeds."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Stat | None:
        vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not vals:
            return None
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return cls(statistics.fmean(vals), std, len(vals))


@dataclass(frozen=True)
class ConfigRow:
    """One leaderboard row: a configuration aggregated over its seeds."""

    key: str
    name: str
    model: str
    seeds: tuple[int, ...]
    params: int | None
    flops: int | None
    val_acc: Stat | None
    test_acc: Stat | None
    test_selected: Stat | None
    latency_ms: Stat | None
    epoch_time_s: Stat | None
    epochs: Stat | None
    device: str
    stopped: int = 0

    @property
    def n(self) -> int:
        return len(self.seeds)


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
    """Rows of a ``runs.jsonl``; a malformed line raises ``ValueError`` naming its number."""
    p = Path(path)
    rows = []
    for i, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}:{i} is not valid JSON ({exc.msg}).") from None
        if not isinstance(row, dict):
            raise ValueError(f"{p}:{i} must hold a JSON object, but got {type(row).__name__}.")
        rows.append(row)
    return rows


def _acc(value: Any) -> float | None:
    """Accuracies are stored as fractions; shown in percent (values > 1 are taken as %)."""
    if value is None:
        return None
    v = float(value)
    return v * 100.0 if v <= 1.0 else v


def describe_model(config: Mapping[str, Any]) -> str:
    """Short model description from a resolved config: ``kan_mlp 784-64-10 fast_kan``."""
    model = config.get("model") or {}
    if not isinstance(model, Mapping):
        return str(model)
    parts = [str(model.get("name", "?"))]
    widths = model.get("widths")
    if isinstance(widths, (list, tuple)):
        parts.append("-".join(str(w) for w in widths))
    for key in ("layer", "activation", "activations", "sparsity_layer"):
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
    rows: Sequence[Mapping[str, Any]], *, by: str = "config", include_trials: bool = False
) -> list[ConfigRow]:
    """Group rows (last row per (group, seed) wins) and average over seeds.

    Args:
        rows: ``runs.jsonl`` rows (schema in the training contract).
        by: ``config`` (``config_hash``), ``name`` or ``model`` (model description).
        include_trials: Keep rows written by search trials (excluded by default: studies
            are summarised from their exports instead).

    Raises:
        ValueError: for an unknown ``by``.
    """
    if by not in GROUP_BY:
        raise ValueError(
            f"`by` must be one of {', '.join(GROUP_BY)}, but got by={by!r}.{suggest(by, GROUP_BY)}"
        )
    groups: dict[str, dict[Any, Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("trial") and not include_trials:
            continue
        key = _group_key(row, by)
        groups.setdefault(key, {})[row.get("seed")] = row  # a re-run of a seed replaces it
    out = []
    for key, by_seed in groups.items():
        runs = [by_seed[s] for s in sorted(by_seed, key=lambda s: (s is None, s))]
        metrics = [r.get("metrics") or {} for r in runs]
        names = list(dict.fromkeys(str(r.get("name")) for r in runs))
        models = list(dict.fromkeys(describe_model(r.get("config") or {}) for r in runs))
        devices = sorted({str(r.get("device")) for r in runs if r.get("device")})
        params = [r["params"] for r in runs if r.get("params") is not None]
        flops = [r["flops"] for r in runs if r.get("flops") is not None]
        out.append(
            ConfigRow(
                key=key,
                name=" / ".join(names),
                model=" / ".join(models),
                seeds=tuple(int(r["seed"]) for r in runs if r.get("seed") is not None),
                params=int(max(params)) if params else None,
                flops=int(max(flops)) if flops else None,
                val_acc=Stat.of(_acc(m.get("val/acc")) for m in metrics),
                test_acc=Stat.of(_acc(m.get("test/acc")) for m in metrics),
                test_selected=Stat.of(_acc(m.get("test_selected/acc")) for m in metrics),
                latency_ms=Stat.of(r.get("latency_ms") for r in runs),
                epoch_time_s=Stat.of(m.get("epoch_time_s") for m in metrics),
                epochs=Stat.of(r.get("epochs") for r in runs),
                device=", ".join(devices),
                stopped=sum(1 for r in runs if r.get("status") == "stopped"),
            )
        )
    return out


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


def _fmt_stat(s: Stat | None, digits: int = 2, unit: str = "") -> str:
    if s is None:
        return "–"
    if s.n == 1:
        return f"{s.mean:.{digits}f}{unit}"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f}{unit}"


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


def _mean(s: Stat | None) -> float | None:
    return None if s is None else s.mean


@dataclass(frozen=True)
class Column:
    """A leaderboard column: header, cell text, sort value and direction."""

    header: str
    text: Callable[[ConfigRow], str]
    value: Callable[[ConfigRow], Any]
    descending: bool = False


COLUMNS: dict[str, Column] = {
    "name": Column("name", lambda r: r.name, lambda r: r.name),
    "model": Column("model", lambda r: r.model, lambda r: r.model),
    "n": Column("n", lambda r: str(r.n), lambda r: r.n, descending=True),
    "params": Column("params", lambda r: _fmt_int(r.params), lambda r: r.params),
    "test": Column(
        "test acc % (best-val ckpt)",
        lambda r: _fmt_stat(r.test_acc),
        lambda r: _mean(r.test_acc),
        descending=True,
    ),
    "val": Column(
        "val acc %", lambda r: _fmt_stat(r.val_acc), lambda r: _mean(r.val_acc), descending=True
    ),
    "test_selected": Column(
        "test-selected acc % ¹",
        lambda r: _fmt_stat(r.test_selected),
        lambda r: _mean(r.test_selected),
        descending=True,
    ),
    "flops": Column("matmul FLOPs ²", lambda r: _fmt_flops(r.flops), lambda r: r.flops),
    "latency": Column(
        "latency ms ³", lambda r: _fmt_stat(r.latency_ms), lambda r: _mean(r.latency_ms)
    ),
    "epoch_time": Column(
        "epoch s", lambda r: _fmt_stat(r.epoch_time_s, 1), lambda r: _mean(r.epoch_time_s)
    ),
    "epochs": Column(
        "epochs", lambda r: _fmt_stat(r.epochs, 0) if r.epochs else "–", lambda r: _mean(r.epochs)
    ),
    "device": Column("device", lambda r: r.device or "–", lambda r: r.device),
}
DEFAULT_COLUMNS = (
    "name", "model", "n", "params", "test", "val", "test_selected", "flops", "latency",
    "epoch_time", "epochs", "device",
)

FOOTNOTES = (
    "Models are selected on validation (carved from the training set); the primary column is "
    "test accuracy at the best-validation checkpoint, mean ± sample std over the n seeds.",
    "¹ Best test accuracy over epochs, i.e. selected on test, as in the KAN papers' tables "
    "(All-KAN, BSRBF-KAN); optimistic by construction, shown only for comparison with them.",
    "² Matrix-multiply FLOPs per sample of one forward pass, from torch's FLOP counter "
    "(`torch.utils.flop_counter`); it misses elementwise work such as KAN basis functions, "
    "so it under-counts KAN layers. Latency is the honest cost column.",
    "³ Median forward time of one batch on the device shown, measured on a shared, busy "
    "machine: noisy, compare only within one table.",
)


def _sort_rows(rows: Sequence[ConfigRow], sort: str) -> list[ConfigRow]:
    if sort not in COLUMNS:
        raise ValueError(
            f"`sort` must be one of {', '.join(COLUMNS)}, but got sort={sort!r}."
            f"{suggest(sort, list(COLUMNS))}"
        )
    col = COLUMNS[sort]

    def key(r: ConfigRow) -> tuple[Any, ...]:
        v = col.value(r)
        if v is None:
            return (1, 0, r.name, r.key)
        if isinstance(v, str):
            return (0, v, r.name, r.key)
        return (0, -v if col.descending else v, r.name, r.key)

    return sorted(rows, key=key)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows)
    return lines


@dataclass(frozen=True)
class Leaderboard:
    """Aggregated rows of one benchmark plus its study summaries and anchors."""

    benchmark: str
    rows: tuple[ConfigRow, ...]
    studies: tuple[StudySummary, ...] = ()
    anchors: tuple[Anchor, ...] = ()
    n_runs: int = 0
    sort: str = "test"
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    command: str = field(default="")

    def sorted_rows(self) -> list[ConfigRow]:
        return _sort_rows(self.rows, self.sort)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and cell texts, rank first, in sort order."""
        headers = ["#"] + [COLUMNS[c].header for c in self.columns]
        body = [
            [str(i)] + [COLUMNS[c].text(r) for c in self.columns]
            for i, r in enumerate(self.sorted_rows(), start=1)
        ]
        return headers, body

    def to_markdown(self) -> str:
        """The ``leaderboard.md`` text (deterministic)."""
        out = [f"# Leaderboard: {self.benchmark}", ""]
        if self.command:
            out.append(
                f"Generated by `{self.command}` from `runs.jsonl` ({self.n_runs} runs) and "
                f"{len(self.studies)} exported "
                f"stud{'y' if len(self.studies) == 1 else 'ies'}. Do not edit by hand: "
                "rerun the command."
            )
            out.append("")
        headers, body = self.table()
        out.extend(_md_table(headers, body) if body else ["(no runs yet)"])
        out.append("")
        for note in FOOTNOTES:
            out += [note, ""]
        out.pop()
        if self.studies:
            out += ["", "## Search studies (from exported studies)", ""]
            out.extend(_md_table(*self._study_table()))
        if self.anchors:
            out += [
                "",
                "## Anchors: external reference numbers (not reproduced here)",
                "",
                "Numbers reported by other projects under their own protocol; they are context, "
                "not results of this code, and are not ranked with the table above.",
                "",
            ]
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
        """Raw numbers (means and stds in separate columns), one line per configuration."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        stats = ("val_acc", "test_acc", "test_selected", "latency_ms", "epoch_time_s", "epochs")
        header = ["rank", "key", "name", "model", "n", "seeds", "params", "flops", "device"]
        for s in stats:
            header += [f"{s}_mean", f"{s}_std"]
        writer.writerow(header)
        for i, r in enumerate(self.sorted_rows(), start=1):
            line: list[Any] = [i, r.key, r.name, r.model, r.n, " ".join(map(str, r.seeds)),
                               r.params, r.flops, r.device]
            for s in stats:
                st: Stat | None = getattr(r, s)
                line += ["", ""] if st is None else [f"{st.mean:.6g}", f"{st.std:.6g}"]
            writer.writerow(line)
        return buf.getvalue()

    def to_html(self) -> str:
        """A standalone HTML table (no scripts, no external resources)."""
        headers, body = self.table()
        esc = html.escape
        parts = [
            "<!DOCTYPE html>",
            f"<html><head><meta charset=\"utf-8\"><title>Leaderboard: {esc(self.benchmark)}"
            "</title></head><body>",
            f"<h1>Leaderboard: {esc(self.benchmark)}</h1>",
        ]
        if self.command:
            parts.append(f"<p>Generated by <code>{esc(self.command)}</code>.</p>")
        parts.append("<table border=\"1\"><thead><tr>")
        parts.extend(f"<th>{esc(h)}</th>" for h in headers)
        parts.append("</tr></thead><tbody>")
        for row in body:
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</tbody></table>")
        parts.extend(f"<p><small>{esc(n)}</small></p>" for n in FOOTNOTES)
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
        raise ValueError(
            f"`format` must be one of {', '.join(FORMATS)}, but got format={fmt!r}."
            f"{suggest(fmt, FORMATS)}"
        )

    def rich_table(self) -> Any:
        """A ``rich.table.Table`` for the terminal."""
        from rich.table import Table

        headers, body = self.table()
        table = Table(title=f"Leaderboard: {self.benchmark}", title_justify="left")
        for h in headers:
            table.add_column(h, overflow="fold")
        for row in body:
            table.add_row(*row)
        return table


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
) -> Leaderboard:
    """Read a benchmark directory and aggregate it.

    Args:
        bench_dir: ``results/<benchmark>`` holding ``runs.jsonl`` (and optionally
            ``studies/*.json``, ``anchors.yaml``).
        by: Grouping: ``config`` (default), ``name`` or ``model``.
        sort: Column key to sort by (see :data:`COLUMNS`); accuracies sort descending.
        include_trials: Keep rows that search trials wrote to ``runs.jsonl``.
        command: The command line stated in the Markdown header.

    Raises:
        ValueError: if the directory has neither ``runs.jsonl`` nor study exports, or ``by`` /
            ``sort`` is unknown.
    """
    path = Path(bench_dir)
    runs_file = path / "runs.jsonl"
    runs = read_runs(runs_file) if runs_file.is_file() else []
    studies = read_studies(path)
    if not runs and not studies:
        raise ValueError(
            f"`bench_dir` must hold runs.jsonl or studies/*.json, but got bench_dir={str(path)!r}."
        )
    rows = aggregate(runs, by=by, include_trials=include_trials)
    _sort_rows(rows, sort)  # validates ``sort`` early
    benchmark = str(next((r.get("benchmark") for r in runs if r.get("benchmark")), path.name))
    return Leaderboard(
        benchmark=benchmark,
        rows=tuple(rows),
        studies=tuple(studies),
        anchors=tuple(read_anchors(path)),
        n_runs=sum(1 for r in runs if include_trials or not r.get("trial")),
        sort=sort,
        command=command,
    )
