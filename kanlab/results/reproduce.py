"""``kanlab reproduce DIR``: re-run every configuration a results directory names, at this code.

A results directory (``results/<benchmark>/``) names its configurations in a small manifest,
``reproduce.yaml`` — experiment YAMLs plus ``--set`` overrides, and the seeds — read and
checked by :mod:`kanlab.results.manifest` (:func:`read_manifest`, re-exported here). Each
(configuration, seed) is a job; a job is done when ``runs.jsonl`` holds a completed row with
its ``config_hash`` and seed made at the current ``code_sha`` from clean code
(:mod:`kanlab.provenance`), or at a code that ``verified.jsonl`` ties to the current one
(``kanlab reproduce DIR --verify``, :mod:`kanlab.results.verify`). :func:`reproduce` runs the
jobs not done yet, seed-major (an interrupted reproduction leaves every configuration with
nearly the same n), in ``workers`` processes with ``cores // workers`` torch threads each, so
a reproduction can span several sittings; then it regenerates ``leaderboard.md`` exactly as
``kanlab leaderboard DIR`` does (both read the manifest's ``leaderboard:`` options,
``baseline`` and ``split_by``). Runs go to ``DIR/runs.jsonl``: DIR must be named after the
experiments' data module or their ``benchmark`` (a top-level config key, e.g.
``--set benchmark=fashion_mnist_conv``).

With uncommitted changes in kanlab/ it refuses (the runs would not record a code version)
unless ``allow_dirty``: then dirty rows at the current ``code_sha`` count as done as well, and
the leaderboard flags them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kanlab._sigint import kill_pool, terminated_raises
from kanlab.errors import ConfigError, SetupError
from kanlab.provenance import CodeVersion, code_version
from kanlab.results.manifest import MANIFEST, Manifest, ManifestRun, read_manifest

__all__ = ["Job", "Manifest", "ManifestRun", "ReproduceReport", "plan", "read_manifest",
           "reproduce"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One training run: a configuration at one seed."""

    experiment: Path
    overrides: tuple[str, ...]
    seed: int
    name: str
    config_hash: str

    def describe(self) -> str:
        try:
            path = self.experiment.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            path = self.experiment
        sets = " ".join(self.overrides)
        return f"{self.name} seed={self.seed}: {path} {sets}".rstrip()


@dataclass
class ReproduceReport:
    """What a call did: the jobs, those already done, those run and those that failed."""

    jobs: list[Job]
    done: list[Job]
    ran: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)
    code: CodeVersion | None = None
    leaderboard: Path | None = None

    @property
    def todo(self) -> list[Job]:
        done = set(self.done)
        return [j for j in self.jobs if j not in done]


def plan(bench_dir: str | Path) -> list[Job]:
    """Every job of the manifest, seed-major, each config resolved and checked.

    Raises:
        ConfigError: for a bad manifest or config, or an experiment whose data module is not
            the directory's name (its runs would be recorded elsewhere).
    """
    from kanlab.config import config_hash, load_experiment

    bench = Path(bench_dir)
    manifest = read_manifest(bench)
    per_run: list[dict[int, Job]] = []
    for i, run in enumerate(manifest.runs):
        jobs = {}
        for seed in run.seeds:
            cfg = load_experiment(run.experiment, [*run.overrides, f"seed={seed}"])
            if cfg.results_group != bench.name:
                raise ConfigError(
                    f"`runs.{i}` must record its runs in {bench.name}/runs.jsonl (data module "
                    f"or `benchmark` {bench.name!r}), but they go to {cfg.results_group!r}."
                )
            jobs[seed] = Job(run.experiment, run.overrides, seed, cfg.name, config_hash(cfg))
        per_run.append(jobs)
    seeds = sorted({s for jobs in per_run for s in jobs})
    return [jobs[s] for s in seeds for jobs in per_run if s in jobs]


def _done(jobs: Sequence[Job], rows: Sequence[Mapping[str, Any]], code: CodeVersion,
          allow_dirty: bool, tied: frozenset[str] = frozenset()) -> list[Job]:
    """Jobs with a completed, clean row at the current code (or at a code ``tied`` to it by
    a verification record, :mod:`kanlab.results.verify`)."""
    codes = {code.code_sha, *tied} if code.code_sha is not None else set()
    recorded = {
        (r.get("config_hash"), r.get("seed"))
        for r in rows
        if r.get("status") == "completed" and not r.get("trial")
        and r.get("code_sha") in codes
        and (r.get("git_dirty") is False or (allow_dirty and r.get("git_dirty") is True))
    }
    return [j for j in jobs if (j.config_hash, j.seed) in recorded]


def _run_job(job: Job, results_dir: str, threads: int,
             started_at: CodeVersion) -> tuple[str, float]:
    """Train one job (in a worker process or in-process); returns the run directory and the
    seconds the job took (in the worker: a queued job's wait is not counted).

    Raises:
        SetupError: when kanlab/ changed on disk since the command started: a worker runs
            the code it imported then, but its row would record the new code version.
    """
    import torch

    started = time.perf_counter()
    now = code_version()
    if (now.code_sha, now.git_dirty) != (started_at.code_sha, started_at.git_dirty):
        raise SetupError(
            f"kanlab/ must not change while `kanlab reproduce` runs (its workers run the code "
            f"imported at the start, code {str(started_at.code_sha)[:7]}), but it is now code "
            f"{str(now.code_sha)[:7]}{' with uncommitted changes' if now.git_dirty else ''}: "
            "rerun the command to run the rest at the new code."
        )
    from kanlab.config import load_experiment
    from kanlab.lit.train import train

    torch.set_num_threads(threads)
    cfg = load_experiment(job.experiment, [*job.overrides, f"seed={job.seed}"])
    result = train(cfg, results_dir=Path(results_dir), progress_bar=False)
    return str(result.run_dir), time.perf_counter() - started


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)


def reproduce(
    bench_dir: str | Path,
    *,
    workers: int | None = None,
    dry_run: bool = False,
    allow_dirty: bool = False,
    threads: int | None = None,
    echo: Callable[[str], None] = print,
) -> ReproduceReport:
    """Run the manifest's jobs that are not done at this code, then regenerate the table.

    Args:
        bench_dir: ``results/<benchmark>`` with ``reproduce.yaml``.
        workers: Parallel training processes (default: one per core).
        dry_run: List the jobs to run and stop.
        allow_dirty: Run with uncommitted changes in kanlab/ (rows are flagged dirty).
        threads: Torch threads per run (default: cores // workers, at least 1); every row
            records the count it ran with.
        echo: Where progress lines go.

    Raises:
        ConfigError: for a bad manifest (before anything runs).
        SetupError: outside a git checkout, or with uncommitted changes in kanlab/ and not
            ``allow_dirty``.
        RuntimeError: when some runs failed (the others are recorded; rerun to retry).
    """
    from kanlab.errors import InputError
    from kanlab.results.leaderboard import write_leaderboard
    from kanlab.results.reading import read_runs

    cores = os.cpu_count() or 1
    workers = cores if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"`workers` must be an integer >= 1, but got workers={workers!r}.")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise InputError(f"`threads` must be an integer >= 1, but got threads={threads!r}.")
    bench = Path(bench_dir)
    jobs = plan(bench)
    code = code_version()
    if code.code_sha is None:
        raise SetupError(
            "`kanlab reproduce` needs kanlab in a git checkout (runs record its code_sha), "
            "but the imported kanlab is not in one."
        )
    runs_file = bench / "runs.jsonl"
    rows = read_runs(runs_file) if runs_file.is_file() else []
    from kanlab.results.verified import tied_codes

    tied = tied_codes(bench, code.code_sha)
    report = ReproduceReport(jobs=jobs, done=_done(jobs, rows, code, allow_dirty, tied),
                             code=code)
    todo = report.todo
    echo(f"{bench}: {len(jobs)} runs in {MANIFEST}, {len(report.done)} already recorded at "
         f"code {code.code_sha[:7]}, {len(todo)} to run"
         + (" (kanlab/ has uncommitted changes)" if code.git_dirty else "") + ".")
    if dry_run:
        for job in todo:
            echo(f"would run {job.describe()}")
        return report
    if todo and code.git_dirty and not allow_dirty:
        raise SetupError(
            "kanlab/ has uncommitted changes, so the runs would not record a code version: "
            "commit them first (`git status kanlab`) or pass --allow-dirty."
        )
    if threads is None:
        threads = max(1, cores // min(workers, max(1, len(todo))))
    if todo:
        _execute(todo, bench.parent, workers, threads, report, echo, code)
    _, report.leaderboard = write_leaderboard(bench)
    echo(f"wrote {report.leaderboard}")
    if report.failed:
        names = ", ".join(f"{j.name} seed={j.seed}" for j, _ in report.failed)
        raise RuntimeError(
            f"{len(report.failed)} of {len(todo)} runs failed ({names}); the others are "
            "recorded, rerun the command to retry the failed ones."
        )
    return report


def _execute(todo: Sequence[Job], results_dir: Path, workers: int, threads: int,
             report: ReproduceReport, echo: Callable[[str], None], code: CodeVersion) -> None:
    def finished(job: Job, took: float, error: BaseException | None) -> None:
        if error is None:
            report.ran.append(job)
            echo(f"done {job.describe()} ({took:.0f} s)")
        else:
            report.failed.append((job, f"{type(error).__name__}: {error}"))
            echo(f"FAILED {job.describe()}: {type(error).__name__}: {error}")

    if workers == 1 or len(todo) == 1:
        for job in todo:
            echo(f"run {job.describe()}")
            try:
                _, took = _run_job(job, str(results_dir), threads, code)
            except Exception as exc:  # one failed run does not stop the others
                logger.debug("run failed", exc_info=True)
                finished(job, 0.0, exc)
            else:
                finished(job, took, None)
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    # Python's default SIGTERM action would end this parent at once and leave its spawned
    # workers training; Ctrl-C reaches the workers too (one process group), SIGTERM only us.
    with terminated_raises(_terminated), ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker,
            initargs=(threads,)) as pool:
        futures: dict[Future[tuple[str, float]], Job] = {}
        try:
            for job in todo:
                echo(f"queued {job.describe()}")  # starts when a worker is free
                futures[pool.submit(_run_job, job, str(results_dir), threads, code)] = job
            for future in as_completed(futures):
                error = future.exception()
                finished(futures[future], 0.0 if error else future.result()[1], error)
        except _Terminated:
            kill_pool(pool)  # a killed run has appended no row: the rerun redoes it
            raise


class _Terminated(KeyboardInterrupt):
    """SIGTERM in the parent of the worker pool (a CLI's `kill`, a job scheduler's stop)."""


def _terminated() -> _Terminated:
    return _Terminated("terminated: the running runs were stopped, none was recorded "
                       "half-done; rerun the same command to resume")
