"""``kanlab search``, ``kanlab worker`` and ``kanlab study``: thin shells over kanlab.search."""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kanlab import _sigint as sigint
from kanlab.command import Command, UsageError, add_overrides_argument, results_dir
from kanlab.config import ConfigError
from kanlab.specs import resolve_spec

__all__ = ["SearchCommand", "StudyCommand", "WorkerCommand"]


def _console() -> Any:
    """Rich on a terminal; elsewhere (a pipe, a log file) lines are never wrapped."""
    from kanlab.command import console

    return console(width=100_000)


def _say(text: str) -> None:
    """One plain line on stdout (commands, JSON: never wrapped or marked up)."""
    sys.stdout.write(text + "\n")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


def _finished(study: Any) -> list[Any]:
    """The study's COMPLETE and PRUNED trials, read from the storage once."""
    from kanlab.search.storage import FINISHED

    return list(study.get_trials(deepcopy=False, states=FINISHED))


def _trial_table(study: Any, trials: list[Any], title: str, limit: int | None = None) -> Any:
    """Rich table of finished trials, best first."""
    from optuna.trial import TrialState
    from rich.table import Table

    metrics = study.user_attrs.get("metrics") or [
        f"value{i}" for i in range(len(study.directions))
    ]
    sign = 1 if study.directions[0].name == "MINIMIZE" else -1
    trials = sorted(trials, key=lambda t: (t.state != TrialState.COMPLETE,
                                           sign * (t.values[0] if t.values else 0.0)))
    params = sorted({k for t in trials for k in t.params})
    table = Table(title=title, title_justify="left")
    for col in ("#", "state", *metrics, "epochs", *params):
        table.add_column(col, overflow="fold")
    for t in trials[:limit]:
        values = list(t.values or [None] * len(metrics))
        table.add_row(str(t.number), t.state.name.lower(), *map(_fmt, values),
                      _fmt(t.user_attrs.get("epochs")), *(_fmt(t.params.get(p)) for p in params))
    return table


_NO_REASON = "no reason recorded (its worker died or lost its heartbeat)"


def _failed_lines(study: Any, limit: int = 10) -> list[str]:
    """``trial N: reason`` for the latest FAIL trials (a dead worker leaves no reason)."""
    from optuna.trial import TrialState

    from kanlab.search._objective import FAIL_REASON

    failed = list(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
    lines = [
        f"  trial {t.number}: {t.user_attrs.get(FAIL_REASON) or _NO_REASON}"
        for t in failed[-limit:]
    ]
    if len(failed) > limit:
        lines.insert(0, f"  ... {len(failed) - limit} earlier failed trials")
    return lines


def _print_summary(study: Any, url: str) -> None:
    from kanlab.search.storage import counts, mask

    console = _console()
    c = counts(study)
    trials = _finished(study)
    console.print(_trial_table(study, trials, f"study {study.study_name}", limit=20))
    _say(f"{c.finished} finished trials ({c.failed} failed, {c.running} running).")
    if c.failed:
        _say("Failed trials:")
        for line in _failed_lines(study):
            _say(line)
    best = _best(study, trials)
    if len(study.directions) > 1:
        _say(f"Pareto front: trials {sorted(t.number for t in best)} "
             "(multi-objective: no pruning).")
    elif best:
        _say(f"Best: trial {best[0].number}, value {best[0].value:.4g}")
        if best[0].user_attrs.get("rerun"):
            _say(f"Rerun: {best[0].user_attrs['rerun']}")
    _say(f"Dashboard: optuna-dashboard {shlex.quote(mask(url))}")


def _add_study_args(parser: argparse.ArgumentParser, *, storage_required: bool = False,
                    default_study: str = "the spec's name") -> None:
    if storage_required:
        parser.add_argument("--storage", metavar="URL_OR_PATH",
                            help="storage of the running study: a sqlite:///, grpc://HOST:PORT, "
                            "postgresql+psycopg:// or journal:/// URL, or a SQLite file path "
                            "(required)")
    else:
        parser.add_argument("--storage", metavar="URL_OR_PATH",
                            help="storage URL or SQLite file path "
                            "(default <results>/studies/<study>.db)")
    parser.add_argument("--study", dest="study_name", metavar="NAME",
                        help=f"study name (default: {default_study})")


class SearchCommand(Command):
    """Run (or resume) an Optuna study from a study YAML.

    --n-trials N is the number of finished trials the study should hold in total, split
    across --workers local processes; rerunning the same command resumes and only runs the
    missing trials. The storage defaults to <results>/studies/<study>.db (SQLite); use a
    postgresql+psycopg:// URL for many workers (password from $PGPASSWORD or
    $KANLAB_DB_PASSWORD), or grpc://HOST:PORT of a `kanlab storage serve` proxy in front of
    it for many hosts. Multi-objective studies report the Pareto front and do not prune.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec", help="study YAML or shipped study name, e.g. kan_grid "
                            "(kanlab list studies)")
        parser.add_argument("--n-trials", type=int, metavar="N",
                            help="finished trials the study should hold in total "
                            "(default: the spec's n_trials)")
        parser.add_argument("--workers", type=int, metavar="W",
                            help="local worker processes sharing the study (default: one "
                            "per GPU in --devices or visible, else 1)")
        parser.add_argument("--devices", metavar="DEVICES",
                            help="'cpu' or GPU indices such as 0,1,2,3; worker i trains on "
                            "its own GPU(s) (default: the visible GPUs, else cpu)")
        parser.add_argument("--timeout", type=float, metavar="SECONDS",
                            help="no new trial starts after this many seconds (> 0)")
        _add_study_args(parser)
        add_overrides_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        sigint.install()  # one Ctrl-C stops the search and every worker (kanlab/_sigint.py)
        p = None
        try:
            from kanlab.search.devices import default_workers
            from kanlab.search.study import prepare, run_prepared, wants_cpu, warm_up

            if args.workers is not None and args.workers < 1:
                raise UsageError(f"`--workers` must be >= 1, but got workers={args.workers}.")
            if args.workers is not None and args.workers > 1:
                warm_up()  # the workers' forkserver imports torch/Lightning while we validate
            p = prepare(resolve_spec(args.spec, "studies"), n_trials=args.n_trials,
                        storage=args.storage,
                        study_name=args.study_name, overrides=args.overrides,
                        results_dir=results_dir(args), timeout=args.timeout)
            workers, placements = default_workers(args.workers, args.devices,
                                                  cpu_only=wants_cpu(p))
            with _Progress(p.n_trials) as progress:
                study = run_prepared(p, workers=workers, placements=placements,
                                     on_progress=progress.update)
            _print_summary(study, p.url)
        except KeyboardInterrupt:
            from kanlab.search.study import stop_forkserver

            with sigint.deferred():
                stop_forkserver()
            raise KeyboardInterrupt(_stopped(p, _command("search", args))) from None
        return 0


class WorkerCommand(Command):
    """Join a running study as one more worker (e.g. from another machine).

    Runs trials until the study holds --n-trials finished trials (default: the spec's), like
    the workers of kanlab search. Needs the storage the study lives in.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("spec", help="the study YAML (or shipped study name) the study "
                            "was started from")
        parser.add_argument("--n-trials", type=int, metavar="N",
                            help="finished trials the study should hold in total "
                            "(default: the spec's n_trials)")
        parser.add_argument("--timeout", type=float, metavar="SECONDS",
                            help="no new trial starts after this many seconds (> 0)")
        parser.add_argument("--device", metavar="DEVICE",
                            help="'cpu' or the GPU index(es) this worker trains on, e.g. 0 "
                            "or 0,1 (default: GPU 0 if any, else cpu)")
        parser.add_argument("--worker-index", type=int, default=1, metavar="I",
                            help="offsets the sampler seed so workers differ (default 1)")
        _add_study_args(parser, storage_required=True)
        add_overrides_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        from kanlab.search.devices import Placement, default_workers, parse_devices, visible_gpus
        from kanlab.search.study import prepare, run_worker, wants_cpu

        if args.storage is None:
            raise UsageError("`kanlab worker` needs --storage URL_OR_PATH (the running study's).")
        devices = (parse_devices(args.device, available=visible_gpus(), option="--device")
                   if args.device is not None else None)
        p = prepare(resolve_spec(args.spec, "studies"), n_trials=args.n_trials,
                    storage=args.storage,
                    study_name=args.study_name, overrides=args.overrides,
                    results_dir=results_dir(args), timeout=args.timeout)
        _check_worker_target(p, explicit_name=args.study_name is not None)
        if devices is None:
            devices = default_workers(1, None, cpu_only=wants_cpu(p))[1]
        placement = Placement(tuple(i for d in devices for i in d.indices))
        sigint.install()
        try:
            ran = run_worker(p, worker=args.worker_index, create=True, placement=placement)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(_stopped(p, _command("worker", args))) from None
        _say(f"worker ran {ran} trials of study {p.study}.")
        return 0


def _command(name: str, args: argparse.Namespace) -> str:
    """The ``kanlab search`` / ``kanlab worker`` command line that resumes this one."""
    words = ["kanlab", name, args.spec]
    for flag, value in (("--n-trials", args.n_trials),
                        ("--workers", getattr(args, "workers", None)),
                        ("--devices", getattr(args, "devices", None)),
                        ("--device", getattr(args, "device", None)),
                        ("--timeout", args.timeout), ("--storage", args.storage),
                        ("--study", args.study_name), ("--results-dir", args.results_dir)):
        if value is not None:
            words += [flag, str(value)]
    if getattr(args, "worker_index", 1) != 1:
        words += ["--worker-index", str(args.worker_index)]
    if args.overrides:
        words += ["--set", *args.overrides]
    return shlex.join(words)


def _stopped(p: Any, command: str) -> str:
    """One line for Ctrl-C: what was stopped, how far it got, and the command that resumes it.

    The interrupted trials are FAIL with the reason "interrupted (Ctrl-C)" and queued again
    (:func:`kanlab.search._objective.retry_interrupted`); the command runs them first.
    """
    if p is None:
        return f"interrupted before the search started; resume with: {command}"
    with sigint.deferred():  # a second Ctrl-C does not cut this line short
        try:
            from kanlab.search.storage import counts, open_storage, study_exists

            if p.url.startswith("sqlite"):
                from sqlalchemy.engine import make_url

                if not Path(make_url(p.url).database or "").is_file():
                    return (f"interrupted before study {p.study!r} started; resume with: "
                            f"{command}")
            storage = open_storage(p.url, create_dirs=False)
            if not study_exists(storage, p.study):
                return (f"interrupted before study {p.study!r} started; resume with: "
                        f"{command}")
            import optuna

            c = counts(optuna.load_study(study_name=p.study, storage=storage))
            done = f" with {c.finished} of {p.n_trials} trials finished"
        except Exception:  # the line matters more than the count
            done = ""
    return (f"interrupted — stopped study {p.study!r}{done} (an interrupted trial is failed "
            f"and queued again); resume with: {command}")


def _check_worker_target(p: Any, *, explicit_name: bool) -> None:
    """A worker joins its study; it starts one only in an empty storage or under ``--study``.

    Without this, ``kanlab worker spec.yaml --storage <another study's db>`` would quietly
    create a second study next to the one the user meant to join.
    """
    from kanlab.registry import suggest
    from kanlab.search.storage import mask, open_storage

    if explicit_name:
        return
    storage = open_storage(p.url, create_dirs=False)
    names = [s.study_name for s in storage.get_all_studies()]
    if names and p.study not in names:
        raise UsageError(
            f"Storage {mask(p.url)} holds no study {p.study!r} (it holds: {', '.join(names)})."
            f"{suggest(p.study, names)} Pass --study NAME to join one of them, or --study "
            f"{p.study} to start that study there."
        )


class _Progress:
    """Finished trials and the best value so far, on stderr.

    A Rich progress bar on a terminal; elsewhere (a log file, CI) one plain line per finished
    or failed trial, so a long search never sits silent.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._progress: Any = None
        self._task: Any = None
        self._seen: set[int] | None = None

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.description}"), transient=False)
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total)
        return self

    @staticmethod
    def _best(study: Any, finished: int) -> str:
        if len(study.directions) != 1 or not finished:
            return ""
        try:
            return f"best {study.best_value:.4g} (trial {study.best_trial.number})"
        except ValueError:
            return ""

    def update(self, study: Any) -> None:
        from kanlab.search.storage import counts

        c = counts(study)
        best = self._best(study, c.finished)
        if self._progress is not None:
            self._progress.update(self._task, completed=min(c.finished, self.total),
                                  description=f"{best} running {c.running}")
            return
        self._lines(study, c, best)

    def _lines(self, study: Any, c: Any, best: str) -> None:
        from optuna.trial import TrialState

        from kanlab.search._objective import FAIL_REASON

        done = [t for t in study.get_trials(deepcopy=False)
                if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
        if self._seen is None:
            self._seen = {t.number for t in done}
            sys.stderr.write(f"study {study.study_name}: {c.finished}/{self.total} finished "
                             f"trials{f', {best}' if best else ''}\n")
            sys.stderr.flush()
            return
        for t in done:
            if t.number in self._seen:
                continue
            self._seen.add(t.number)
            if t.state == TrialState.FAIL:
                what = f"failed: {t.user_attrs.get(FAIL_REASON) or 'no reason recorded'}"
            else:
                values = ", ".join(f"{v:.4g}" for v in t.values or [])
                what = t.state.name.lower() + (f" ({values})" if values else "")
            sys.stderr.write(f"trial {t.number} {what}; {c.finished}/{self.total} finished"
                             f"{f', {best}' if best else ''}\n")
        sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _storage_for(args: argparse.Namespace, study: str | None) -> str:
    from kanlab.search.storage import check_storage_url, resolve_storage

    if args.storage is None and study is None:
        raise UsageError("Give --study NAME (its default SQLite file) or --storage URL_OR_PATH.")
    if study is not None:
        from kanlab.paths import check_name

        check_name("--study", study)
    url = resolve_storage(args.storage, results_dir=results_dir(args), study=study or "")
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        if not Path(make_url(url).database or "").is_file():
            if args.storage is None:
                raise ConfigError(
                    f"No study {study!r}: {make_url(url).database} does not exist (studies "
                    f"live in <results>/studies/; `kanlab study list` shows them)."
                )
            raise ConfigError(f"No study database at {url!r}.")
    url = check_storage_url(url)
    if url.startswith("journal:"):
        from kanlab.search.storage import journal_path

        if not journal_path(url).is_file():
            raise ConfigError(f"No study journal at {url!r}.")
    return url


def _default_storages(root: Path) -> list[str]:
    """The SQLite files ``kanlab search`` wrote under ``<results>/studies/``."""
    return [f"sqlite:///{p.resolve()}" for p in sorted((root / "studies").glob("*.db"))]


class StudyCommand(Command):
    """Inspect or export studies: list, show, best, export.

    list: every study in --storage, or under <results>/studies/ when neither --storage nor
    --study is given. show: the trial table, failed trials with their reasons, the best trial
    and the command that reruns it. best: one JSON line per best trial (Pareto front for
    several objectives). export writes <results>/<benchmark>/studies/<study>.csv and .json
    (all trials) and <study>_best.yaml (the experiment YAML of the best trial), which
    leaderboards read.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["list", "show", "best", "export"],
                            help="what to do with the study (see above)")
        _add_study_args(parser, default_study="the storage's only study")

    def run(self, args: argparse.Namespace) -> int:
        import optuna

        from kanlab.search.storage import mask, open_storage, quiet_optuna

        quiet_optuna()
        if args.action == "list" and args.storage is None and args.study_name is None:
            urls = _default_storages(results_dir(args))
            if not urls:
                _say(f"No studies under {results_dir(args) / 'studies'}.")
            for url in urls:
                self._list(open_storage(url, create_dirs=False), url)
            return 0
        url = _storage_for(args, args.study_name)
        storage = open_storage(url, create_dirs=False)
        names = [s.study_name for s in storage.get_all_studies()]
        if args.action == "list":
            self._list(storage, url)
            return 0
        chosen: str | None = args.study_name or (names[0] if len(names) == 1 else None)
        if chosen is None or chosen not in names:
            from kanlab.registry import suggest

            raise UsageError(f"Unknown study {chosen!r} in {mask(url)}."
                             f"{suggest(str(chosen), names)} Available: {', '.join(names)}.")
        study = optuna.load_study(study_name=chosen, storage=storage)
        if args.action == "show":
            _print_summary(study, url)
        elif args.action == "best":
            for trial in _best(study, _finished(study)):
                _say(json.dumps({"number": trial.number, "values": trial.values,
                                 "params": trial.params,
                                 "rerun": trial.user_attrs.get("rerun")}))
        else:
            for path in export_study(study, results_dir(args)):
                _say(f"wrote {path}")
        return 0

    @staticmethod
    def _list(storage: Any, url: str) -> None:
        import optuna

        from kanlab.search.storage import counts, mask

        for summary in storage.get_all_studies():
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            c = counts(study)
            _say(f"{summary.study_name}: {c.finished} finished, {c.running} running, "
                 f"{c.failed} failed ({mask(url)})")


def _best(study: Any, finished: list[Any]) -> list[Any]:
    """The best trial (single objective) or the Pareto front, from already loaded trials."""
    from optuna.trial import TrialState

    complete = [t for t in finished if t.state == TrialState.COMPLETE and t.values]
    if not complete:
        return []
    signs = [1 if d.name == "MINIMIZE" else -1 for d in study.directions]
    if len(signs) == 1:
        return [min(complete, key=lambda t: (signs[0] * t.values[0], t.number))]
    keyed = [(t, [s * v for s, v in zip(signs, t.values, strict=True)]) for t in complete]
    front = [t for t, a in keyed
             if not any(all(x <= y for x, y in zip(b, a, strict=True)) and b != a
                        for _, b in keyed)]
    return sorted(front, key=lambda t: (signs[0] * t.values[0], t.number))


def export_study(study: Any, root: Path) -> list[Path]:
    """Write ``<root>/<benchmark>/studies/<study>.{csv,json}`` and ``<study>_best.yaml``."""
    import yaml

    benchmark = str(study.user_attrs.get("benchmark") or "unknown")
    metrics: Sequence[str] = study.user_attrs.get("metrics") or [
        f"value{i}" for i in range(len(study.directions))
    ]
    out = Path(root) / benchmark / "studies"
    out.mkdir(parents=True, exist_ok=True)
    trials = []
    everything = study.get_trials(deepcopy=False)
    for t in everything:
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if (
            t.datetime_complete and t.datetime_start) else None
        trials.append({"number": t.number, "state": t.state.name, "values": t.values,
                       "params": t.params, "user_attrs": t.user_attrs, "duration_s": duration})
    from kanlab.search.storage import FINISHED

    best = _best(study, [t for t in everything if t.state in FINISHED])
    doc = {"study": study.study_name,
           "directions": [d.name.lower() for d in study.directions],
           "metrics": list(metrics), "trials": trials,
           "best_trials": [t.number for t in best]}
    json_path = out / f"{study.study_name}.json"
    json_path.write_text(json.dumps(doc, indent=1, default=str))
    csv_path = out / f"{study.study_name}.csv"
    params = sorted({k for t in trials for k in t["params"]})
    attrs = ["config_hash", "epochs", "params", "latency_ms", "run_dir", "rerun"]
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["number", "state", *metrics, "duration_s",
                         *(f"param:{p}" for p in params), *attrs])
        for t in trials:
            values = list(t["values"] or [None] * len(metrics))
            writer.writerow([t["number"], t["state"], *values, t["duration_s"],
                             *(t["params"].get(p) for p in params),
                             *(t["user_attrs"].get(a) for a in attrs)])
    written = [csv_path, json_path]
    if best and best[0].user_attrs.get("config"):
        yaml_path = out / f"{study.study_name}_best.yaml"
        yaml_path.write_text(yaml.safe_dump(best[0].user_attrs["config"], sort_keys=False))
        written.append(yaml_path)
    return written
