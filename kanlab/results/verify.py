"""``kanlab reproduce DIR --verify``: does the current code reproduce a table's runs bit for bit?

A committed table's rows record the code that ran them (``code_sha``, :mod:`kanlab.provenance`).
When kanlab/ changes afterwards, :func:`verify` re-runs a sample of K recorded runs at the
current code — each from the experiment YAML and overrides ``kanlab reproduce`` plans for its
(config hash, seed), at the row's recorded torch thread count (CPU float rounding depends on
it), into a temporary directory — and compares every non-timing field the row recorded:
every metric except the timings (:data:`TIMING`), and ``best_epoch``, ``epochs``, ``params``,
``params_built``, ``flops`` plus, where recorded, ``converged``, ``stop_reason``,
``stopped_epoch`` and ``steps``. Comparison is exact (JSON floats round-trip exactly).

- All agree: one JSON line is appended to ``DIR/verified.jsonl`` (:data:`VERIFIED`), a
  committed, reviewable record: the current ``git_sha`` / ``code_sha``, the rows'
  ``rows_code_sha``, the runs compared (name, seed, config hash, threads, fields compared),
  K and the number of rows, and the machine (torch version, CPU capability, platform).
  :func:`tied_codes` reads it: ``kanlab reproduce`` then counts the rows as done at the
  current code, and ``kanlab leaderboard --strict`` accepts them as the current code's.
- Some moved: nothing is written; the report names every run and field that moved (old ->
  new value), and the table must be re-run (``kanlab reproduce DIR``).

- ``against=REF`` (``--against REF``), for a machine other than the rows' (bit for bit holds
  on one CPU instruction set): each sampled run is trained twice on this machine, at the
  current code and at commit REF's (:mod:`kanlab.results.reference`), and the two are compared
  (the config hash too) instead of the current run and the row. REF's code must itself be tied
  to the rows (the rows' own code, or one a record ties to them); the record then also names
  REF (``against``), and ties the rows to the current code as REF's record tied them to REF's.
  Without it, on a machine whose instruction set (``cpu_capability``) is none of those the
  rows' bits are known on (:func:`bits_known_on`), the report carries a ``hint`` naming the
  mismatch and the ``--against`` command (echoed before any run is trained): there a run
  that moved may have moved with the CPU, not the code.

The sample is deterministic: K rows drawn with ``random.Random(0)`` from the completed rows
sorted by (name, seed), so a reviewer can re-run the same check. A sample proves only that
those K runs reproduce; K = all rows (``--sample 0``) proves the whole table.

``workers`` (``--workers``) trains the sampled runs in that many spawned processes at once,
each at its row's thread count (the bits depend on that count, not on what runs beside it);
the default is as many as the cores hold at the sample's largest thread count. The report
lists the runs in sample order whichever finishes first. With ``against`` the runs of both
codes are trained one after another (``workers`` must then be 1).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import tempfile
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanlab.errors import InputError, SetupError
from kanlab.provenance import code_version, machine
from kanlab.results.reference import Reference, checkout
from kanlab.results.verified import VERIFIED, read_verified, tied_codes

if TYPE_CHECKING:
    from kanlab.config import ExperimentConfig
    from kanlab.results.reproduce import Job

__all__ = [
    "TIMING",
    "VERIFIED",
    "Moved",
    "VerifyReport",
    "bits_known_on",
    "compared_fields",
    "read_verified",
    "tied_codes",
    "unrecorded_row",
    "verify",
]

TIMING = frozenset({"epoch_time_s", "step_time_s", "wall_time_s", "latency_ms"})
_FIELDS = ("best_epoch", "epochs", "params", "params_built", "flops", "converged",
           "stop_reason", "stopped_epoch", "steps")


@dataclass(frozen=True)
class Moved:
    """A run whose re-run at the current code differs: field -> (recorded, now)."""

    name: str
    seed: int
    fields: Mapping[str, tuple[Any, Any]]

    def describe(self) -> str:
        what = "; ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in self.fields.items())
        return f"{self.name} seed={self.seed}: {what}"


@dataclass
class VerifyReport:
    """What :func:`verify` compared and found."""

    bench: Path
    compared: list[dict[str, Any]] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    record: dict[str, Any] | None = None
    hint: str | None = None
    """Set when this machine's instruction set is not one the rows' bits are known on."""

    @property
    def ok(self) -> bool:
        return bool(self.compared) and not self.moved


def compared_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The non-timing fields of a row that a re-run must reproduce exactly."""
    out: dict[str, Any] = {}
    for key, value in sorted((row.get("metrics") or {}).items()):
        if key not in TIMING:
            out[f"metrics.{key}"] = value
    for key in _FIELDS:
        if key in row:
            out[key] = row[key]
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (NaN equals NaN: a NaN recorded is a NaN reproduced)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def _latest(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The last completed, non-trial row per (config hash, seed), sorted by (name, seed)."""
    by_key: dict[tuple[Any, Any], Mapping[str, Any]] = {}
    for r in rows:
        if r.get("status") == "completed" and not r.get("trial"):
            by_key[(r.get("config_hash"), r.get("seed"))] = r
    return sorted(by_key.values(), key=lambda r: (str(r.get("name")), int(r.get("seed") or 0)))


def bits_known_on(
    bench: Path, rows: Sequence[Mapping[str, Any]], rows_sha: str, *,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> set[str]:
    """The CPU instruction sets on which ``rows`` (of code ``rows_sha``) are known to come out
    bit for bit: those the rows record (``cpu_capability``; older rows carry none) and those of
    the plain ``--verify`` records of these rows (a record made with ``--against`` compared two
    codes on its machine, not that machine with the rows). ``records``: ``bench``'s
    ``verified.jsonl`` when the caller has read it already."""
    known = {str(r["cpu_capability"]) for r in rows if r.get("cpu_capability")}
    records = read_verified(bench) if records is None else records
    known |= {str(rec["cpu_capability"]) for rec in records
              if rec.get("cpu_capability") and "against" not in rec
              and rec.get("rows_code_sha") == rows_sha}
    return known


def _cpu_hint(bench: Path, rows: Sequence[Mapping[str, Any]], rows_sha: str) -> str | None:
    """Why a plain ``--verify`` may report moved runs here, and the command that can tie the
    table on this machine; None where this machine's instruction set is one the rows' bits are
    known on (:func:`bits_known_on`)."""
    records = read_verified(bench)
    known = bits_known_on(bench, rows, rows_sha, records=records)
    here = machine()["cpu_capability"]
    if not known or here is None or here in known:
        return None
    tied = [rec for rec in records if rec.get("rows_code_sha") == rows_sha]
    ref = str(tied[-1]["git_sha"])[:7] if tied and tied[-1].get("git_sha") else "COMMIT"
    return (f"this machine's torch dispatches to {here}, but {bench}'s rows come out bit for bit "
            f"on {', '.join(sorted(known))}: a run may move with the CPU, not the code. Tie "
            f"the table here with `kanlab reproduce {bench} --verify --against {ref}` (a commit "
            f"whose code is tied to the rows"
            + (", the last one recorded" if ref != "COMMIT" else "") + ").")


def verify(
    bench_dir: str | Path, *, sample: int | None = 3, threads: int | None = None,
    record: bool = True, echo: Callable[[str], None] = print, against: str | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Re-run ``sample`` recorded runs of ``bench_dir`` at the current code and compare.

    Args:
        bench_dir: ``results/<benchmark>`` with ``reproduce.yaml`` and ``runs.jsonl``.
        sample: How many runs (0 or ``None``: every row).
        threads: Thread count for rows that did not record one (else refused).
        record: Append the record to ``verified.jsonl`` when every run agrees.
        echo: Where progress lines go.
        against: A commit whose code is tied to the rows: compare with its runs on this
            machine instead of the rows (see the module docstring).
        workers: Runs trained at once, each in its own process (``None``: cores // the
            sample's largest thread count, at least 1; 1 with ``against``).

    Raises:
        InputError: a bad ``sample`` or ``workers``, no rows, rows from several code versions,
            a row without a thread count and no ``threads``, ``workers`` > 1 with
            ``against``, or an ``against`` that names no commit or one whose code is not tied
            to the rows.
        SetupError: outside a git checkout, or with uncommitted changes in kanlab/ and
            ``record`` (a record must name committed code; ``record=False`` compares only).
    """
    from kanlab.results.reproduce import plan

    _check_options(sample, workers, against)
    bench = Path(bench_dir)
    code = code_version()
    if code.code_sha is None or (code.git_dirty and record):
        raise SetupError(
            "`kanlab reproduce --verify` records which committed code reproduces the table, but "
            + ("kanlab is not in a git checkout." if code.code_sha is None else
               "kanlab/ has uncommitted changes: commit them first (`git status kanlab`).")
        )
    rows, rows_sha = _recorded(bench)
    k = len(rows) if not sample else min(sample, len(rows))
    chosen = [rows[i] for i in sorted(random.Random(0).sample(range(len(rows)), k))]
    jobs = {(j.config_hash, j.seed): j for j in plan(bench)}
    planned = [_planned(row, jobs, threads) for row in chosen]  # bad rows fail before any run
    report = VerifyReport(bench=bench)
    if against is None:
        report.hint = _cpu_hint(bench, rows, rows_sha)
        if report.hint is not None:
            echo(f"note: {report.hint}")
    with checkout(against) if against is not None else nullcontext() as ref:
        if ref is not None and rows_sha not in tied_codes(bench, ref.code_sha):
            raise InputError(
                f"`--against` must name a commit whose code is tied to {bench}'s rows (their "
                f"code {rows_sha[:7]}, or one a {VERIFIED} record ties to them), but got "
                f"--against={against!r} (code {ref.code_sha[:7]}).")
        echo(f"{bench}: re-running {k} of {len(rows)} runs (code {rows_sha[:7]}) at code "
             f"{code.code_sha[:7]}" + ("" if ref is None else
                                       f" and at {ref.git_sha[:7]}'s code {ref.code_sha[:7]}")
             + ", comparing every non-timing field bit for bit.")
        if workers is None:
            widest = max((n for _, n in planned if n is not None), default=1)
            workers = 1 if ref is not None else max(1, (os.cpu_count() or 1) // widest)
        with closing(_fresh_rows(planned, workers)) as fresh:
            for row, (job, n) in zip(chosen, planned, strict=True):
                _verify_row(row, job, n, None if job is None else next(fresh), report, echo,
                            ref)
    if report.ok:
        report.record = {
            "code_sha": code.code_sha, "git_sha": code.git_sha, "rows_code_sha": rows_sha,
            "sample": k, "of": len(rows), "runs": report.compared,
            "date": dt.datetime.now(dt.timezone.utc).date().isoformat(), **machine(),
        }
        if ref is not None:
            report.record["against"] = {"git_sha": ref.git_sha, "code_sha": ref.code_sha}
        if record:
            with open(bench / VERIFIED, "a", encoding="utf-8") as f:
                f.write(json.dumps(report.record, sort_keys=True) + "\n")
            echo(f"all {k} runs reproduce bit for bit: recorded in {bench / VERIFIED}")
    return report


def _check_options(sample: Any, workers: Any, against: str | None) -> None:
    """:func:`verify`'s ``sample`` and ``workers``, or an InputError naming the bad one."""
    if isinstance(sample, bool) or (sample is not None and (not isinstance(sample, int)
                                                             or sample < 0)):
        raise InputError(f"`--sample` must be an integer >= 0, but got --sample={sample!r}.")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise InputError(f"`--workers` must be an integer >= 1, but got --workers={workers!r}.")
    if against is not None and workers not in (None, 1):
        raise InputError(f"`--workers` must be 1 with --against (the runs of both codes are "
                         f"trained one after another), but got --workers={workers}.")


def _recorded(bench: Path) -> tuple[list[Mapping[str, Any]], str]:
    """The latest completed rows of ``bench/runs.jsonl`` (:func:`_latest`) and their one code.

    Raises:
        InputError: no such rows, or rows from several code versions.
    """
    from kanlab.results.reading import read_runs

    runs_file = bench / "runs.jsonl"
    rows = _latest(read_runs(runs_file)) if runs_file.is_file() else []
    if not rows:
        raise InputError(f"`DIR` must hold completed runs in runs.jsonl, but got {str(bench)!r}.")
    shas = sorted({str(r.get("code_sha")) for r in rows})
    if len(shas) != 1:
        raise InputError(
            f"`DIR`'s runs must come from one code version to be verified, but got "
            f"{len(shas)}: {', '.join(s[:7] for s in shas)}."
        )
    return rows, shas[0]


def _planned(row: Mapping[str, Any], jobs: Mapping[tuple[str, int], Job],
             threads: int | None) -> tuple[Job | None, int | None]:
    """The job ``kanlab reproduce`` plans for ``row`` (None: no longer planned) and the
    thread count to run it at (the row's, else ``threads``).

    Raises:
        InputError: the row records no thread count and ``threads`` is None.
    """
    job = jobs.get((str(row.get("config_hash")), int(row.get("seed") or 0)))
    n = row.get("threads") if isinstance(row.get("threads"), int) else threads
    if job is not None and n is None:
        raise InputError(
            f"`threads` must be given for rows that did not record a thread count, but "
            f"{row.get('name')} seed={int(row.get('seed') or 0)} has none (pass --threads N, "
            "the count it ran with)."
        )
    return job, None if n is None else int(n)


def unrecorded_row(cfg: ExperimentConfig, threads: int) -> dict[str, Any]:
    """Train ``cfg`` at the current code with ``threads`` torch threads, recording nothing
    (a temporary results directory); its row as it would be written to runs.jsonl (JSON
    types). What a verification and the pinned numerics (``kanlab.testing.pinned``) compare."""
    from kanlab.lit.train import train
    from kanlab.measure import torch_threads

    with tempfile.TemporaryDirectory() as tmp, torch_threads(threads):
        row = train(cfg, results_dir=Path(tmp), record=False, progress_bar=False).row
    out: dict[str, Any] = json.loads(json.dumps(row, default=str))
    return out


def _train(job: Job, threads: int) -> dict[str, Any]:
    """:func:`unrecorded_row` of ``job`` (a picklable call for the worker pool)."""
    from kanlab.config import load_experiment

    return unrecorded_row(
        load_experiment(job.experiment, [*job.overrides, f"seed={job.seed}"]), threads)


def _fresh_rows(planned: Sequence[tuple[Job | None, int | None]],
                workers: int) -> Generator[dict[str, Any], None, None]:
    """The current code's row of each planned job, in order (None jobs skipped): trained one
    by one as they are asked for, or with ``workers`` > 1 all submitted at once to a pool of
    spawned processes (a SIGTERM stops them; nothing is recorded half-done)."""
    todo = [(job, n) for job, n in planned if job is not None and n is not None]
    if workers == 1 or len(todo) < 2:
        for job, n in todo:
            yield _train(job, n)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from kanlab._sigint import kill_pool, terminated_raises

    context = multiprocessing.get_context("spawn")
    with terminated_raises(), ProcessPoolExecutor(
            max_workers=min(workers, len(todo)), mp_context=context) as pool:
        futures = [pool.submit(_train, job, n) for job, n in todo]
        try:
            for future in futures:
                yield future.result()
        except BaseException:
            # Stopped early (a SIGTERM, Ctrl-C, a failed run, the caller closing us): stop the
            # running trainings. After the last result the pool shuts down as usual.
            if not all(future.done() for future in futures):
                kill_pool(pool)
            raise


def _verify_row(row: Mapping[str, Any], job: Job | None, n: int | None,
                new_row: Mapping[str, Any] | None, report: VerifyReport,
                echo: Callable[[str], None], reference: Reference | None = None) -> None:
    """Compare one recorded row with ``new_row``, its job's run at the current code (at the
    row's thread count ``n``), and add the outcome to ``report``: compared (with the row, or
    with the job's run at ``reference``), and moved where a field differs."""
    name, seed = str(row.get("name")), int(row.get("seed") or 0)
    if job is None or new_row is None or n is None:
        report.moved.append(Moved(name, seed, {"config_hash": (
            row.get("config_hash"), "not planned by reproduce.yaml at this code")}))
        echo(f"moved {name} seed={seed}: its configuration is no longer the manifest's")
        return
    new = compared_fields(new_row)
    if reference is None:
        old = compared_fields(row)
    else:
        ref_row = reference.run(job, n)
        old = {"config_hash": ref_row.get("config_hash"), **compared_fields(ref_row)}
        new = {"config_hash": new_row.get("config_hash"), **new}
    diff = {key: (value, new.get(key)) for key, value in old.items()
            if not _same(value, new.get(key))}
    report.compared.append({"name": name, "seed": seed, "config_hash": row.get("config_hash"),
                            "threads": n, "compared": sorted(old)})
    if diff:
        report.moved.append(Moved(name, seed, diff))
        echo(f"moved {report.moved[-1].describe()}")
    else:
        echo(f"same {name} seed={seed} ({len(old)} fields, {n} threads)")
