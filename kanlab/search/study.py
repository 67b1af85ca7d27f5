"""Run a study: ``run_study(spec, ...)``, the Python API behind ``kanlab search``/``worker``.

A study holds exactly ``n_trials`` finished (COMPLETE or PRUNED) trials when it is done,
however many workers share it and however often it is interrupted:

* every worker loops "lock, count, start one trial, unlock" (:class:`TrialGate`), so W
  workers never start more trials than are missing; through the gRPC proxy, which has no
  lock, a worker starts its trial and then checks it is needed (:func:`_surplus`);
* rerunning the same command loads the study and runs only the missing trials (a trial
  interrupted with Ctrl-C is FAIL and does not count);
* a worker that dies mid-trial stops sending heartbeats; after ``grace_period`` seconds a live
  worker marks the trial FAIL and Optuna re-enqueues it (``RetryHeartbeatStaleTrialCallback``),
  and the workers wait for that instead of finishing short.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from kanlab import _sigint as sigint
from kanlab import settings
from kanlab.config import ConfigError
from kanlab.errors import Diverged, SetupError
from kanlab.paths import check_name, check_writable
from kanlab.search._checks import check_plan, check_resume, check_spawned
from kanlab.search._handoff import pack, unpack
from kanlab.search._objective import FAIL_REASON, TrialContext, make_objective
from kanlab.search._one_trial import StaleCheck, run_one
from kanlab.search._optuna_private import rdb_backend, study_storage, trial_id
from kanlab.search.devices import (
    CPU,
    Placement,
    default_workers,
    pin_process,
)
from kanlab.search.spec import StudyPlan, load_study
from kanlab.search.storage import (
    GrpcHeartbeatStorage,
    StudyCounts,
    TrialGate,
    check_storage_url,
    counts,
    mask,
    open_storage,
    quiet_optuna,
    resolve_storage,
    study_exists,
)
from kanlab.specs import default_results_dir

__all__ = ["StudyCounts", "counts", "prepare", "run_prepared", "run_study", "run_worker"]

logger = logging.getLogger(__name__)
MAX_CONSECUTIVE_FAILURES = 3
MAX_CONSECUTIVE_DIVERGED = 10  # failures in a row when the last one diverged


@dataclass(frozen=True)
class Prepared:
    """A validated plan plus its resolved storage URL and study name."""

    plan: StudyPlan
    url: str
    study: str
    n_trials: int
    timeout: float | None
    results_dir: Path


def prepare(
    spec: StudyPlan | str | Path | Mapping[str, Any],
    *,
    n_trials: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    overrides: Sequence[str] = (),
    results_dir: str | Path | None = None,
    timeout: float | None = None,
    create_dirs: bool = True,
) -> Prepared:
    """Validate everything (spec, base, space, sampler, pruner, storage URL); touch nothing."""
    plan = spec if isinstance(spec, StudyPlan) else load_study(spec, overrides)
    if n_trials is not None and n_trials < 1:
        raise ConfigError(f"`--n-trials` must be >= 1, but got n_trials={n_trials}.")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"`--timeout` must be > 0 seconds, but got timeout={timeout}.")
    if study_name is not None and not study_name.strip():
        raise ConfigError(f"`--study` must be a non-empty name, but got {study_name!r}.")
    name = check_name("--study" if study_name else "name", study_name or plan.name)
    root = Path(results_dir or default_results_dir()).resolve()
    check_writable(root)
    url = resolve_storage(storage or plan.spec.storage, results_dir=root, study=name)
    # The default location's directory is ours to create; an explicit one must exist.
    explicit = storage is not None or plan.spec.storage is not None
    check_storage_url(url, create_dirs=create_dirs and not explicit)
    check_plan(plan)
    return Prepared(
        plan=plan,
        url=url,
        study=name,
        n_trials=n_trials or plan.spec.n_trials,
        timeout=timeout if timeout is not None else plan.spec.timeout,
        results_dir=root,
    )


def _open(p: Prepared, *, create: bool, worker: int = 0) -> tuple[optuna.Study, Any]:
    spec = p.plan.spec
    storage = open_storage(
        p.url,
        heartbeat_interval=spec.heartbeat_interval,
        grace_period=spec.grace_period,
        max_retry=spec.max_retry,
    )
    sampler = p.plan.make_sampler(worker=worker)
    pruner = p.plan.make_pruner()
    directions: list[Any] = list(spec.direction_names)
    if study_exists(storage, p.study):
        study = optuna.load_study(study_name=p.study, storage=storage, sampler=sampler,
                                  pruner=pruner)
        have = [d.name.lower() for d in study.directions]
        if have != directions:
            raise ConfigError(
                f"Study {p.study!r} in {mask(p.url)} optimises {have}, but the spec asks for "
                f"{directions}; pass --study NEW_NAME to start a separate study."
            )
        check_resume(study, p.plan)
        return study, storage
    if not create:
        raise ConfigError(f"No study {p.study!r} in {mask(p.url)}; start it with kanlab search.")
    study = optuna.create_study(study_name=p.study, storage=storage, directions=directions,
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(spec.metric_names))
    study.set_user_attr("kanlab_spec", _jsonable(p.plan.raw))
    study.set_user_attr("base", str(p.plan.base_path) if p.plan.base_path else None)
    study.set_user_attr("base_config", _jsonable(p.plan.base_raw))
    study.set_user_attr("overrides", list(p.plan.overrides))
    study.set_user_attr("benchmark", p.plan.benchmark)
    study.set_user_attr("metrics", list(spec.metric_names))
    return study, storage


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def run_worker(
    p: Prepared,
    *,
    worker: int = 0,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    create: bool = True,
    placement: Placement = CPU,
) -> int:
    """Run trials until the study holds ``p.n_trials`` finished ones; return how many ran here.

    Every trial trains on ``placement`` (recorded as the trial's ``device`` user attr).

    Raises:
        RuntimeError: after ``MAX_CONSECUTIVE_FAILURES`` failed trials in a row.
    """
    quiet_optuna()
    check_spawned(p.plan, [placement])
    study, storage = _open(p, create=create, worker=worker)
    gate = TrialGate(storage, p.study)
    ctx = TrialContext(results_dir=p.results_dir, study=p.study, storage=mask(p.url),
                       worker=worker, placement=placement, url=p.url)
    tally = _Tally()
    claim = isinstance(storage, GrpcHeartbeatStorage)  # no lock: check after the start
    objective = _guarded(make_objective(p.plan, ctx), study, p, tally, claim=claim)
    deadline = time.monotonic() + p.timeout if p.timeout else math.inf
    poll = max(0.2, min(2.0, p.plan.spec.heartbeat_interval / 2))
    stale = StaleCheck(every=max(1.0, p.plan.spec.grace_period / 4))
    seen = sigint.count()
    try:
        # Bookkeeping (count, start and tell a trial) finishes even when Ctrl-C lands in it:
        # a SIGINT there is raised when the step is done, so no trial is left RUNNING; the
        # objective itself is interruptible (make_objective).
        with sigint.deferred():
            while time.monotonic() < deadline:
                if sigint.count() != seen:  # an interrupt a library swallowed: stop here
                    raise KeyboardInterrupt
                step, told = _next_trial(p, study, gate, stale, objective, tally, poll)
                if step == "full":
                    break
                if step == "ran":
                    _account(p, study, told, tally, on_trial)
    finally:
        gate.close()
    return tally.ran - tally.surplus


@dataclass
class _Tally:
    """What one worker's trials came to: how many ran, how many were surplus, failures in a
    row, and the errors its objective raised (setup errors apart: they stop the worker)."""

    ran: int = 0
    surplus: int = 0
    failures: int = 0
    errors: list[BaseException] = field(default_factory=list)
    setup: list[SetupError] = field(default_factory=list)


def _guarded(objective: Callable[[optuna.Trial], Any], study: optuna.Study, p: Prepared,
             tally: _Tally, *, claim: bool) -> Callable[[optuna.Trial], Any]:
    """``objective`` that fails a surplus trial first (``claim``: started without the gate's
    lock) and notes every error it raises in ``tally``."""

    def gated(trial: optuna.Trial) -> Any:
        if claim and _surplus(study, trial.number, p.n_trials):
            trial.set_user_attr(FAIL_REASON, SURPLUS)
            raise _Surplus(SURPLUS)
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            tally.errors.append(exc)
            if isinstance(exc, SetupError):
                tally.setup.append(exc)
            raise

    return gated


def _next_trial(p: Prepared, study: optuna.Study, gate: TrialGate, stale: StaleCheck,
                objective: Callable[[optuna.Trial], Any], tally: _Tally,
                poll: float) -> tuple[Literal["full", "wait", "ran"], FrozenTrial | None]:
    """Under the gate: ``("full", None)`` when the study holds its trials, ``("wait", None)``
    after waiting for running ones, else ``("ran", told trial or None)``."""
    gate.acquire()
    try:
        stale(study)  # a dead worker's trial is failed and queued again
        c = counts(study)
        if c.finished >= p.n_trials:
            return "full", None
        if c.finished + c.running >= p.n_trials:
            gate.release()
            with sigint.interruptible():  # wait for running trials (or retries)
                time.sleep(poll)
            return "wait", None
        try:
            # The gate opens as soon as the trial exists: others may start theirs.
            told: FrozenTrial | None = run_one(study, objective, on_start=gate.release)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as exc:
            # Another worker judged this trial dead (no heartbeat within the grace period,
            # e.g. on an overloaded machine), failed it and enqueued a retry.
            logger.warning("a trial of study %r was failed as stale by another worker and "
                           "will be retried (%s)", p.study, exc)
            tally.errors.append(exc)
            told = None
    finally:
        gate.release()
    tally.ran += 1
    return "ran", told


def _account(p: Prepared, study: optuna.Study, told: FrozenTrial | None, tally: _Tally,
             on_trial: Callable[[optuna.Study, FrozenTrial], None] | None) -> None:
    """After a trial: stop at a setup error, skip a surplus trial, report the trial, and
    stop after too many failures in a row."""
    if tally.setup:  # the environment fails every trial alike: stop at the first
        raise SetupError(f"Stopped study {p.study!r}: {tally.setup[0]}") from None
    if told is not None and told.user_attrs.get(FAIL_REASON) == SURPLUS:
        tally.surplus += 1
        return
    if told is not None and on_trial is not None:
        on_trial(study, told)
    if told is not None and told.state != TrialState.FAIL:
        tally.failures = 0
        return
    # A diverged trial failed for its parameters, not its environment: the study goes on,
    # unless every trial diverges.
    tally.failures += 1
    diverged = bool(tally.errors) and isinstance(tally.errors[-1], Diverged)
    limit = MAX_CONSECUTIVE_DIVERGED if diverged else MAX_CONSECUTIVE_FAILURES
    if tally.failures >= limit:
        error = tally.errors[-1] if tally.errors else "see the log above"
        kind = type(error).__name__ if isinstance(error, BaseException) else ""
        raise RuntimeError(
            f"{tally.failures} trials in a row failed in study {p.study!r}; last "
            f"error: {kind} {error}".strip()
        )


SURPLUS = "not needed: the study held its trials when it started (another worker's was first)"


class _Surplus(Exception):
    """A trial started through the gRPC proxy that the study turned out not to need."""

    quiet = True  # not logged as a failure


def _surplus(study: optuna.Study, number: int, n_trials: int) -> bool:
    """Whether trial ``number`` is one more than the study needs.

    Without a lock, two workers can start a trial at the same moment. Every trial counts the
    finished trials and the unfinished ones *numbered before it*: of any two trials, the
    later-numbered one sees the earlier one, so the trials that pass never exceed
    ``n_trials`` together. A surplus trial is failed before it runs (reason
    :data:`SURPLUS`); a trial failed later leaves a gap that the next start fills.
    """
    ahead = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            ahead += 1
        elif t.state in (TrialState.RUNNING, TrialState.WAITING) and t.number < number:
            ahead += 1
    return ahead >= n_trials


def _worker_process(
    prepared: bytes,
    worker: int,
    threads: int,
    placement: Placement,
    environ: dict[str, str],
    cwd: str,
) -> None:
    """Entry point of one local worker process (forked from the preloaded forkserver).

    ``prepared`` is the caller's validated :class:`Prepared` (:func:`kanlab.search._handoff.pack`),
    rebuilt here without validating the study again. The forkserver's environment and
    directory are those of its first use: take the caller's current ones.
    """
    sigint.install()  # the group's Ctrl-C stops this worker too (the forkserver ignores it)
    try:
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        local = pin_process(placement)  # before anything in this process initialises CUDA
        import torch

        from kanlab._malloc import tune_malloc

        tune_malloc()

        torch.set_num_threads(threads)
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        run_worker(unpack(prepared, Prepared), worker=worker, create=False, placement=local)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping already: no second traceback
        sys.exit(130)
    except Exception as exc:
        logger.error("worker %d: %s: %s", worker, type(exc).__name__, exc)
        sys.exit(1)


# What a forkserver imports once so that each worker it forks starts in milliseconds. The
# first makes the forkserver ignore SIGINT while it imports, and its workers start that way
# until _worker_process installs kanlab's handler (a Ctrl-C reaching either in between
# would print a traceback from an import or from multiprocessing's bootstrap).
PRELOAD = ["kanlab.search._forkserver", "torch", "lightning.pytorch", "kanlab.lit.train",
           "kanlab.search.study"]
SQLITE_MANY_WORKERS = 4  # warn above this many workers on one SQLite file (bench/search.py)


def start_method() -> str:
    """How local workers start: from a ``forkserver`` that imported :data:`PRELOAD` once.

    The forkserver is a fresh single-threaded process (no OpenMP pool, CUDA context, database
    connection or heartbeat thread to inherit), and every worker forked from it starts with
    torch and Lightning already imported, in milliseconds. :func:`warm_up` starts it early,
    so its imports overlap the caller's. ``$KANLAB_START_METHOD`` overrides the choice:
    ``spawn`` (a full interpreter start and imports per worker) or ``fork`` (the fastest,
    but only safe while the caller has run no torch op: a forked child of a process whose
    OpenMP pool is up hangs in its first parallel region).
    """
    forced = settings.start_method()
    methods = multiprocessing.get_all_start_methods()
    if forced:
        if forced not in methods:
            raise ConfigError(f"`KANLAB_START_METHOD` must be one of {methods}, but got "
                              f"KANLAB_START_METHOD={forced!r}.")
        return forced
    return "forkserver" if "forkserver" in methods else "spawn"


def warm_up() -> None:
    """Start the worker forkserver now (its imports run while the caller does its own)."""
    if start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()


def stop_forkserver() -> None:
    """End the workers' forkserver now (after a Ctrl-C it may still be importing torch, and
    it would keep the terminal's output open for seconds after this process exits)."""
    from multiprocessing import forkserver

    server: Any = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)  # it ignores SIGINT
        server._stop()  # reaps it and removes its socket
    except (OSError, AttributeError) as exc:  # already gone, or another Python's internals
        logger.debug("could not stop the forkserver: %s", exc)


def run_study(
    spec: StudyPlan | str | Path | Mapping[str, Any],
    *,
    n_trials: int | None = None,
    workers: int = 1,
    storage: str | None = None,
    study_name: str | None = None,
    overrides: Sequence[str] = (),
    results_dir: str | Path | None = None,
    timeout: float | None = None,
    on_progress: Callable[[optuna.Study], None] | None = None,
    placements: Sequence[Placement] | None = None,
) -> optuna.Study:
    """Create or resume a study and run it until it holds ``n_trials`` finished trials.

    Args:
        spec: Study YAML path, mapping or a :class:`StudyPlan` from :func:`load_study`.
        n_trials: Finished trials the study should hold in total (default: the spec's),
            split across ``workers``; trials already in the storage count.
        workers: Local workers sharing the storage: this process plus ``workers - 1``
            started ones; each uses ``cpu_count // workers`` torch threads.
        storage: Storage URL (``sqlite:///``, ``postgresql+psycopg://``, ``journal:``) or
            SQLite path (default: the spec's, else ``<results_dir>/studies/<study>.db``).
        study_name: Default: the spec's ``name``.
        overrides: ``--set`` overrides applied to the base experiment.
        results_dir: Where runs, the default storage and exports go.
        timeout: Seconds after which no new trial starts (default: the spec's).
        on_progress: Called with the study after each finished trial (one worker) or about
            once a second (several workers, from a background thread).
        placements: Worker ``i`` trains on ``placements[i]`` (see
            :func:`kanlab.search.devices.assign`); default: the visible GPUs round-robin,
            or the CPU when there are none (or the experiment asks for the CPU).

    Returns:
        The study (reloaded from the storage).

    Raises:
        ConfigError: for an invalid spec, override or storage URL, before any storage exists.
        RuntimeError: when trials keep failing, or workers stopped before the study was full.
    """
    p = prepare(spec, n_trials=n_trials, storage=storage, study_name=study_name,
                overrides=overrides, results_dir=results_dir, timeout=timeout)
    return run_prepared(p, workers=workers, on_progress=on_progress, placements=placements)


def run_prepared(
    p: Prepared,
    *,
    workers: int = 1,
    on_progress: Callable[[optuna.Study], None] | None = None,
    placements: Sequence[Placement] | None = None,
) -> optuna.Study:
    """:func:`run_study` after :func:`prepare` (the CLI validates first, then runs)."""
    if workers < 1:
        raise ConfigError(f"`--workers` must be >= 1, but got workers={workers}.")
    where = list(placements) if placements is not None else default_workers(
        workers, None, cpu_only=wants_cpu(p))[1]
    if len(where) != workers:
        raise ConfigError(f"`placements` must give one device per worker ({workers}), but got "
                          f"{len(where)}.")
    if workers > SQLITE_MANY_WORKERS and p.url.startswith("sqlite"):
        logger.warning(
            "%d workers share one SQLite file: above %d its write lock limits the study "
            "(bench/search.py); use --storage postgresql+psycopg://... or journal:PATH.",
            workers, SQLITE_MANY_WORKERS)
    check_spawned(p.plan, where)  # before the study exists
    study, _ = _open(p, create=True)
    if workers == 1:
        if on_progress is not None:
            on_progress(study)

        def progress(study: optuna.Study, _: FrozenTrial) -> None:
            if on_progress is not None:
                on_progress(study)

        run_worker(p, on_trial=progress, placement=where[0])
    else:
        _run_processes(p, where, on_progress, study)
    done = counts(study)
    if done.finished < p.n_trials and not p.timeout:
        raise RuntimeError(
            f"Study {p.study!r} stopped with {done.finished} of {p.n_trials} finished trials; "
            "rerun the same command to resume."
        )
    return study


def wants_cpu(p: Prepared) -> bool:
    """Whether the base experiment pins ``trainer.accelerator: cpu`` (then no GPU default)."""
    trainer = p.plan.base_raw.get("trainer") or {}
    return str(trainer.get("accelerator", "auto")).lower() == "cpu"


def _release_connections(study: optuna.Study) -> None:
    """Close the pooled database connections so no forked child shares their sockets."""
    backend = rdb_backend(study_storage(study))
    if backend is not None:
        backend.engine.dispose()


def _run_processes(
    p: Prepared,
    placements: Sequence[Placement],
    on_progress: Callable[[optuna.Study], None] | None,
    study: optuna.Study,
) -> None:
    """Workers 1..W-1 in child processes, worker 0 in this one.

    Running worker 0 here saves one process; the children come from a preloaded forkserver
    (:func:`start_method`), so none of them pays for importing torch and Lightning again.
    Every worker, this one included, uses ``cpu_count // W`` torch threads, restored here
    afterwards. A child pins itself to its GPU(s) with
    ``CUDA_VISIBLE_DEVICES``; worker 0 passes its indices to Lightning instead.
    """
    import torch

    workers = len(placements)
    threads = max(1, (os.cpu_count() or 1) // workers)
    prepared = pack(p)  # validated here once: the workers rebuild it, they do not re-check it
    method = start_method()
    if method == "forkserver":
        warm_up()
    ctx: Any = multiprocessing.get_context(method)
    procs = [
        ctx.Process(
            target=_worker_process,
            args=(prepared, i, threads, placements[i], dict(os.environ), os.getcwd()),
            name=f"kanlab-worker-{i}",
        )
        for i in range(1, workers)
    ]
    _release_connections(study)
    stop = threading.Event()
    poller: threading.Thread | None = None
    previous = torch.get_num_threads()
    try:
        for proc in procs:
            proc.start()
        logger.debug("started %d workers (%s)", len(procs), method)
        if on_progress is not None:
            on_progress(study)
            poller = threading.Thread(target=_poll, args=(study, on_progress, stop),
                                      name="kanlab-progress", daemon=True)
            poller.start()
        torch.set_num_threads(threads)
        try:
            run_worker(p, worker=0, create=False, placement=placements[0])
        except SetupError:
            raise
        except Exception as exc:  # like a failing child: the others may still fill the study
            logger.error("worker 0: %s: %s", type(exc).__name__, exc)
        for proc in procs:
            proc.join()
    except BaseException:  # Ctrl-C (anywhere, even while starting them) or a setup error
        with sigint.deferred():
            _stop_workers(p, procs)
        raise
    finally:
        torch.set_num_threads(previous)
        stop.set()
        if poller is not None:
            poller.join()
    if on_progress is not None:
        on_progress(study)
    bad = [(proc.name, proc.exitcode) for proc in procs if proc.exitcode not in (0, None)]
    for name, code in bad:
        logger.warning("%s exited with code %s; its trials were failed and retried.", name, code)


def _stop_workers(p: Prepared, procs: Sequence[Any], *, grace: float = 2.0,
                  patience: float = 10.0) -> None:
    """Stop the local workers after a Ctrl-C: every one, within ``grace + patience`` s.

    A terminal's Ctrl-C reaches the whole process group, so the workers are stopping on
    their own; one that was started after it (or a SIGINT sent to this process alone) gets
    its own SIGINT after ``grace`` seconds, and one still alive ``patience`` seconds later
    is killed and its running trial failed (and queued again) here.
    """
    started = [proc for proc in procs if proc.pid is not None]
    deadline = time.monotonic() + grace
    for proc in started:
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
    for proc in started:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + patience
    for proc in started:
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
    killed = {proc.pid for proc in started if proc.is_alive()}
    for proc in started:
        if proc.is_alive():
            proc.kill()
            proc.join()
    if killed:
        _fail_running(p, killed)


def _fail_running(p: Prepared, pids: set[int | None]) -> None:
    """Fail (and queue again) the RUNNING trials that the killed local workers held."""
    from kanlab.search._objective import FAIL_REASON, retry_running

    storage = open_storage(p.url)
    study = optuna.load_study(study_name=p.study, storage=storage)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("pid") in pids:
            storage.set_trial_user_attr(trial_id(trial), FAIL_REASON,
                                        "interrupted (Ctrl-C; its worker was killed)")
            storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)
            retry_running(study, trial, max_retry=p.plan.spec.max_retry)
            logger.warning("trial %d: its worker did not stop and was killed; the trial is "
                           "failed and queued again", trial.number)


def _poll(
    study: optuna.Study,
    on_progress: Callable[[optuna.Study], None],
    stop: threading.Event,
) -> None:
    """Report progress about once a second while the workers run (a daemon thread)."""
    while not stop.wait(1.0):
        try:
            on_progress(study)
        except Exception as exc:  # progress is cosmetic; never let it stop the search
            logger.debug("progress update failed: %s", exc)
