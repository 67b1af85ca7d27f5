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

This module puts the parts together and keeps their public names: the data model
(:mod:`kanlab.results.records`), reading (:mod:`kanlab.results.reading`), aggregation and
statistics (:mod:`kanlab.results.aggregate`), columns (:mod:`kanlab.results.columns`),
footnotes (:mod:`kanlab.results.notes`), renderers (:mod:`kanlab.results.render`) and the
``reproduce.yaml`` manifest (:mod:`kanlab.results.manifest`).

The Markdown is byte-for-byte reproducible from the same inputs: no timestamps, a fixed
ordering with tie-breaks, fixed number formats. Model selection is on validation: the primary
column is the test accuracy at the best-validation checkpoint; the best test accuracy over
epochs ("test-selected") is shown beside it only because the KAN papers' tables report it.

Example:
    >>> lb = load_leaderboard("results/fashion_mnist")  # doctest: +SKIP
    >>> print(lb.to_markdown())  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kanlab.errors import InputError
from kanlab.registry import suggest
from kanlab.results import render as _render
from kanlab.results.aggregate import (
    aggregate,
    choose_baseline,
    compare,
    is_regression,
    still_improving,
    top_of,
)
from kanlab.results.columns import (
    COLUMNS,
    REGRESSION_COLUMNS,
    check_sort,
    sort_rows,
    with_equiv,
)
from kanlab.results.columns import DEFAULT_COLUMNS as DEFAULT_COLUMNS
from kanlab.results.manifest import MANIFEST as MANIFEST
from kanlab.results.manifest import TABLE_KEYS as TABLE_KEYS
from kanlab.results.manifest import table_options
from kanlab.results.notes import ANCHOR_NOTE as ANCHOR_NOTE
from kanlab.results.notes import FOOTNOTES as FOOTNOTES
from kanlab.results.notes import REGRESSION_FOOTNOTES as REGRESSION_FOOTNOTES
from kanlab.results.notes import notes
from kanlab.results.reading import describe_model, read_anchors, read_runs, read_studies
from kanlab.results.records import ALPHA as ALPHA
from kanlab.results.records import (
    GROUP_BY,
    METRICS,
    PRIMARY,
    SPLIT_BY,
    STILL_IMPROVING_MAX,
    Anchor,
    Comparison,
    ConfigRow,
    Metric,
    Provenance,
    StudySummary,
    plural,
)
from kanlab.results.records import PLAIN_ACTIVATIONS as PLAIN_ACTIVATIONS
from kanlab.results.records import PRIMARY_REGRESSION as PRIMARY_REGRESSION
from kanlab.results.records import R2_FIT as R2_FIT
from kanlab.results.render import FORMATS as FORMATS
from kanlab.results.stats import MIN_N_FOR_TEST as MIN_N_FOR_TEST
from kanlab.results.stats import Stat

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

    def choose_baseline(self, rows: Sequence[ConfigRow]) -> tuple[str | None, str]:
        """The baseline row's key among ``rows`` and how it was chosen (footnote text)."""
        return choose_baseline(rows, self.baselines, self.primary)

    @functools.cached_property
    def top_keys(self) -> frozenset[str]:
        """The top row of each task."""
        return frozenset(k for rows in self.tasks.values() if (k := top_of(rows, self.primary)))

    @functools.cached_property
    def baseline_keys(self) -> frozenset[str]:
        """The baseline row of each task."""
        _ = self.baseline_key  # validates ``baseline``
        return frozenset(k for rows in self.tasks.values()
                         if (k := self.choose_baseline(rows)[0]))

    @functools.cached_property
    def top_key(self) -> str | None:
        return top_of(self.rows, self.primary)

    @functools.cached_property
    def baseline_key(self) -> str | None:
        names = [r.name for r in self.rows]
        for name in self.baselines:
            if not any(name in (r.name, r.key) for r in self.rows):
                raise InputError(
                    f"`--baseline` must name rows of the table, but got {name!r}."
                    f"{suggest(name, names)}"
                )
        return self.choose_baseline(self.rows)[0]

    @functools.cached_property
    def comparisons(self) -> dict[str, Comparison]:
        out: dict[str, Comparison] = {}
        for rows in self.tasks.values():
            by_key = {r.key: r for r in rows}
            base = by_key.get(self.choose_baseline(rows)[0] or "")
            top = by_key.get(top_of(rows, self.primary) or "")
            out.update(compare(rows, base, top, self.primary, self.margin))
        return out

    def row(self, key: str | None) -> ConfigRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def sorted_rows(self) -> list[ConfigRow]:
        return sort_rows(self.rows, self.sort, self)

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
                f"{plural(len(bad), 'configuration is', 'configurations are')} not: "
                f"{', '.join(bad)}."
            )

    def still_improving(self) -> tuple[int, int, int]:
        """``(still improving, unknown, runs)`` over the table's runs."""
        return still_improving(self.rows)

    # renderers (kanlab.results.render, kanlab.results.notes)

    def notes(self) -> list[str]:
        """Every footnote of the table, in order (depends on the rows shown)."""
        return notes(self)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and cell texts, rank first, in sort order."""
        return _render.table(self)

    def to_markdown(self) -> str:
        """The ``leaderboard.md`` text (deterministic)."""
        return _render.to_markdown(self)

    def to_csv(self) -> str:
        """Raw numbers, one line per configuration: every metric's n/mean/std, the primary
        metric's CI, the comparisons and the provenance."""
        return _render.to_csv(self)

    def to_html(self) -> str:
        """A standalone HTML page: the table, its notes, studies and anchors (no scripts)."""
        return _render.to_html(self)

    def render(self, fmt: str) -> str:
        """``md``, ``csv`` or ``html`` text."""
        return _render.render(self, fmt)

    def rich_table(self) -> Any:
        """A ``rich.table.Table`` for the terminal."""
        return _render.rich_table(self)


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
    check_sort(sort)  # validates ``sort`` early
    regression = is_regression(runs)
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
        columns=with_equiv(REGRESSION_COLUMNS if regression else DEFAULT_COLUMNS, margin),
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
