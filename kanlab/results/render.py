"""Renderers: a :class:`~kanlab.results.leaderboard.Leaderboard` as Markdown, CSV, HTML or a
rich table.

The Markdown (``leaderboard.md``) is byte-for-byte reproducible from the same inputs: no
timestamps, the fixed order and number formats of :mod:`kanlab.results.columns`, the
footnotes of :mod:`kanlab.results.notes`. The CSV holds the raw numbers (every metric's
n/mean/std, the CI, the comparisons, the provenance), the HTML page the Markdown's content
without scripts.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from kanlab.errors import InputError
from kanlab.registry import suggest
from kanlab.results.columns import COLUMNS, fmt_int, top_text
from kanlab.results.notes import ANCHOR_NOTE, header_line, notes
from kanlab.results.records import METRICS, Comparison

if TYPE_CHECKING:
    from kanlab.results.leaderboard import Leaderboard

__all__ = ["FORMATS", "anchor_table", "render", "rich_table", "study_table", "table",
           "to_csv", "to_html", "to_markdown"]

FORMATS = ("md", "csv", "html")


def table(lb: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """Headers and cell texts, rank first, in sort order."""
    headers = ["#"] + [COLUMNS[c].header for c in lb.columns]
    body = [
        [str(i)] + [COLUMNS[c].text(r, lb) for c in lb.columns]
        for i, r in enumerate(lb.sorted_rows(), start=1)
    ]
    return headers, body


def to_markdown(lb: Leaderboard) -> str:
    """The ``leaderboard.md`` text (deterministic)."""
    out = [f"# Leaderboard: {lb.benchmark}", ""]
    if lb.command:
        out += [header_line(lb), ""]
    headers, body = table(lb)
    out.extend(_md_table(headers, body) if body else ["(no runs yet)"])
    out.append("")
    for note in notes(lb):
        out += [note, ""]
    out.pop()
    if lb.studies:
        out += ["", "## Search studies (from exported studies)", ""]
        out.extend(_md_table(*study_table(lb)))
    if lb.anchors:
        out += ["", "## Anchors: external reference numbers (not reproduced here)", "",
                ANCHOR_NOTE, ""]
        out.extend(_md_table(*anchor_table(lb)))
    return "\n".join(out) + "\n"


def study_table(lb: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the exported studies' table (best trial or Pareto front)."""
    headers = ["study", "objective", "trials (complete/pruned/failed)", "best", "best params"]
    body = []
    for s in lb.studies:
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


def anchor_table(lb: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the anchors' table (external numbers, not ranked)."""
    headers = ["reference model", "params", "test acc %", "protocol", "source"]
    body = [
        [
            a.name,
            fmt_int(a.params),
            f"{a.test_acc:.2f}" + (f" ± {a.std:.2f}" if a.std is not None else ""),
            a.protocol,
            a.source,
        ]
        for a in lb.anchors
    ]
    return headers, body


def to_csv(lb: Leaderboard) -> str:
    """Raw numbers, one line per configuration: every metric's n/mean/std, the primary
    metric's CI, the comparisons and the provenance."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["rank", "key", "name", "model", "n", "seeds", "params", "params_low",
              "params_built", "flops", "device"]
    for k in METRICS:
        header += [f"{k}_n", f"{k}_mean", f"{k}_std"]
    header += [f"{lb.primary}_ci_low", f"{lb.primary}_ci_high", "baseline", "delta",
               "p_baseline_holm", "p_top_holm", "vs_top", "code_shas", "dirty_runs",
               "unknown_provenance_runs", "p_equiv_holm", "still_improving",
               "convergence_unknown", "not_fitted", "wall_time_s"]
    writer.writerow(header)

    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.6g}"

    for i, r in enumerate(lb.sorted_rows(), start=1):
        line: list[Any] = [i, r.key, r.name, r.model, r.n, " ".join(map(str, r.seeds)),
                           r.params, r.params_low, r.params_built, r.flops, r.device]
        for k in METRICS:
            st = r.stat(k)
            line += ["", "", ""] if st is None else [st.n, num(st.mean), num(st.std)]
        primary = r.stat(lb.primary)
        ci = primary.ci if primary is not None else None
        c = lb.comparisons.get(r.key, Comparison())
        line += [num(ci[0]) if ci else "", num(ci[1]) if ci else "",
                 int(r.key in lb.baseline_keys), num(c.delta), num(c.p_baseline),
                 num(c.p_top), top_text(r, lb), " ".join(r.provenance.code_shas),
                 r.provenance.n_dirty, r.provenance.n_unknown, num(c.p_equiv),
                 r.improving, r.conv_unknown, r.no_fit, num(r.wall_s)]
        writer.writerow(line)
    return buf.getvalue()


def to_html(lb: Leaderboard) -> str:
    """A standalone HTML page: the table, its notes, studies and anchors (no scripts)."""
    esc = html.escape

    def html_table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
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
        f"<html><head><meta charset=\"utf-8\"><title>Leaderboard: {esc(lb.benchmark)}"
        "</title></head><body>",
        f"<h1>Leaderboard: {esc(lb.benchmark)}</h1>",
    ]
    if lb.command:
        parts.append(f"<p>{esc(header_line(lb))}</p>")
    parts.extend(html_table(*table(lb)))
    parts.extend(f"<p><small>{esc(n)}</small></p>" for n in notes(lb))
    if lb.studies:
        parts.append("<h2>Search studies (from exported studies)</h2>")
        parts.extend(html_table(*study_table(lb)))
    if lb.anchors:
        parts.append("<h2>Anchors: external reference numbers (not reproduced here)</h2>")
        parts.append(f"<p>{esc(ANCHOR_NOTE)}</p>")
        parts.extend(html_table(*anchor_table(lb)))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(lb: Leaderboard, fmt: str) -> str:
    """``md``, ``csv`` or ``html`` text."""
    if fmt == "md":
        return to_markdown(lb)
    if fmt == "csv":
        return to_csv(lb)
    if fmt == "html":
        return to_html(lb)
    raise InputError(
        f"`format` must be one of {', '.join(FORMATS)}, but got format={fmt!r}."
        f"{suggest(fmt, FORMATS)}"
    )


def rich_table(lb: Leaderboard) -> Any:
    """A ``rich.table.Table`` for the terminal."""
    from rich.table import Table
    from rich.text import Text

    headers, body = table(lb)
    out = Table(title=Text(f"Leaderboard: {lb.benchmark}"), title_justify="left")
    for h in headers:
        out.add_column(Text(h), overflow="fold")
    for row in body:  # plain text: a description's [...] is not markup
        out.add_row(*(Text(str(cell)) for cell in row))
    return out


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows)
    return lines
