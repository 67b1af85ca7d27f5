"""Search engine benchmarks: pruning savings, worker start-up, coordination, large studies.

``python -m bench search [--pruning] [--startup] [--coordination] [--large] [--quick]
[--trials-per-worker=N] [--storages=postgresql,grpc,sqlite]`` (no part named: all of them;
``--trials-per-worker`` sets the coordination run's length, default 6: longer runs measure
the steady state, shorter ones include each worker's start and the last trials' tail).

1. ``--pruning``: the shipped ``search/kan_grid.yaml`` study run with the same TPE seed and
   trial budget under the median, Hyperband and successive-halving pruners and without
   pruning; reports total epochs trained, the complete/pruned split and the best ``val/acc``
   of each arm (target for median: >= 3x fewer epochs at an equal best, +-0.3 pp). This part
   trains for real (tens of minutes on 2 cores; ``--quick``: a small subset, few trials).
2. ``--startup``: how long after the caller's imports a local worker runs its first trial,
   per start method (``spawn``, the preloaded ``forkserver`` started cold or warmed up at the
   caller's start as ``kanlab search`` does, and ``fork``); each in a fresh interpreter.
3. ``--coordination``: the training-free objective (``kanlab.search._toy``: 3 epochs of
   ``SLEEP`` s each, no CPU) with 1, 4 and 8 workers on PostgreSQL (a throwaway server,
   :mod:`kanlab.testing.postgres`), on the same server through Optuna's gRPC proxy
   (``kanlab storage serve``, ``grpc``) and on SQLite: finished trials per minute over the span
   from the first trial's start to the last one's end, and the median per-trial engine
   overhead (a worker's gap between consecutive trial starts minus the trial's sleep: gate,
   ask/tell, reports, user attributes, heartbeats). Targets: 8 workers >= 6x one on
   PostgreSQL; overhead <= 100 ms. A second round with no sleep at all measures each
   storage's ceiling (trials/min the engine sustains), which is SQLite's limit.
4. ``--large``: a 2,000-trial study (built with ``add_trials``) listed, shown, exported and
   turned into a leaderboard through the CLI, each timed (target <= 5 s).

Times depend on the machine's load: run the timed parts on a quiet machine (e.g.
``flock /tmp/kanlab-quiet.lock python -m bench search --coordination``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from kanlab.search import run_study

SPEC = Path(__file__).resolve().parents[1] / "search" / "kan_grid.yaml"
PRUNERS = ("median", "hyperband", "successive_halving", "none")
STORAGES = ("postgresql", "grpc", "sqlite")  # what the coordination benchmark runs on


# --------------------------------------------------------------------------- 1. pruning


def _epochs(study: optuna.Study) -> int:
    return sum(int(t.user_attrs.get("epochs", 0)) for t in study.trials)


def _spec(pruner: str, epochs: int) -> dict[str, Any]:
    """The shipped study under ``pruner`` (its base made absolute)."""
    raw = yaml.safe_load(SPEC.read_text())
    raw["base"] = str((SPEC.parent / raw["base"]).resolve())
    if pruner == "hyperband":
        raw["pruner"] = {"name": "hyperband", "min_resource": 1, "max_resource": epochs,
                         "reduction_factor": 3}
    elif pruner == "successive_halving":
        raw["pruner"] = {"name": "successive_halving", "min_resource": 1,
                         "reduction_factor": 3}
    elif pruner == "none":
        raw["pruner"] = {"name": "none"}
    return dict(raw)


def _label(params: dict[str, Any]) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())


def _pruning(root: Path, n_trials: int, epochs: int, sets: list[str]) -> None:
    print(f"pruning: {SPEC.name}, {n_trials} trials x {epochs} epochs, same TPE seed per arm")
    studies: dict[str, optuna.Study] = {}
    for pruner in PRUNERS:
        t0 = time.perf_counter()
        study = run_study(_spec(pruner, epochs), n_trials=n_trials, study_name=f"prune_{pruner}",
                          results_dir=root / pruner, overrides=sets, workers=1)
        studies[pruner] = study
        states = [t.state for t in study.trials]
        best = study.best_trial
        print(f"  {pruner:18s}: epochs {_epochs(study):4d}  "
              f"({states.count(TrialState.COMPLETE)} complete, "
              f"{states.count(TrialState.PRUNED)} pruned)  best val/acc {study.best_value:.4f} "
              f"(trial {best.number}: {_label(best.params)})  "
              f"wall {time.perf_counter() - t0:.0f}s", flush=True)
    full = studies["none"]
    for pruner in PRUNERS[:-1]:
        arm = studies[pruner]
        ratio = _epochs(full) / max(1, _epochs(arm))
        gap = 100 * (arm.best_value - full.best_value)
        print(f"  {pruner:18s}: {ratio:.2f}x fewer epochs than no pruning, best "
              f"{gap:+.2f} pp" + (" (target >= 3x within +-0.3 pp)" if pruner == "median"
                                  else ""))


# --------------------------------------------------------------------------- toy studies

TOY_BASE: dict[str, Any] = {
    "name": "toybase",
    "model": {"name": "mlp", "widths": [2, 8, 1], "activation": "relu"},
    "data": {"name": "synthetic", "function": "xy"},
}


def toy_spec(name: str, n_trials: int) -> dict[str, Any]:
    """A training-free study; the median pruner is asked every epoch but never prunes."""
    return {
        "name": name,
        "base": TOY_BASE,
        "objective": "kanlab.search._toy:objective",
        "n_trials": n_trials,
        "heartbeat_interval": 2,
        "grace_period": 120,
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "median", "n_startup_trials": 100000},
        "space": {
            "model.activation": {"categorical": ["relu", "silu", "gelu"]},
            "optim.lr": {"float": [1.0e-4, 1.0e-1], "log": True},
            "model.dropout": {"float": [0.0, 0.5]},
        },
    }


# --------------------------------------------------------------------------- 2. start-up

_STARTUP = """
import json, os, sys, time


def main() -> None:
    t0 = time.time()
    if sys.argv[1] == "forkserver-warm":
        os.environ["KANLAB_START_METHOD"] = "forkserver"
        from kanlab.search.study import warm_up
        warm_up()  # as `kanlab search --workers W` does before validating
    else:
        os.environ["KANLAB_START_METHOD"] = sys.argv[1]
    import torch, lightning.pytorch, kanlab.lit.train  # what a training caller imports
    from kanlab.search import run_study
    from bench.search import toy_spec
    t1 = time.time()
    # No trial starts after 1 s of a worker's life: each worker runs about one trial.
    study = run_study(toy_spec("startup", 1000), workers=2, results_dir=sys.argv[2],
                      storage=f"journal:{sys.argv[2]}/s.log", timeout=1.0)
    first = min(t.datetime_start.timestamp() for t in study.trials
                if t.user_attrs.get("worker") == 1)
    print(json.dumps({"imports": t1 - t0, "child_after_imports": first - t1}))


if __name__ == "__main__":
    main()
"""

STARTUP_METHODS = ("spawn", "forkserver", "forkserver-warm", "fork")


def _startup(root: Path) -> None:
    print("startup: a 2-worker toy study in a fresh interpreter; time from the end of the "
          "caller's imports (torch, Lightning, kanlab) to worker 1's first trial")
    script = root / "startup.py"
    script.write_text(_STARTUP)
    env = {**os.environ, "KANLAB_TOY_SLEEP": "0.5", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    chosen = os.environ.get("KANLAB_BENCH_STARTUP", "")  # e.g. "fork,forkserver-warm"
    for method in [m for m in STARTUP_METHODS if not chosen or m in chosen.split(",")]:
        out = root / f"startup-{method}"
        out.mkdir()
        run = subprocess.run([sys.executable, str(script), method, str(out)], env=env,
                             capture_output=True, text=True, timeout=900)
        if run.returncode != 0:
            print(run.stdout, run.stderr[-3000:], sep="\n", file=sys.stderr)
            raise RuntimeError(f"start-up run {method} failed")
        got = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"  {method:16s}: caller's imports {got['imports']:5.1f}s, worker 1 runs its "
              f"first trial {got['child_after_imports']:5.1f}s after them", flush=True)


# --------------------------------------------------------------------------- 3. coordination


def _overheads(study: optuna.Study, busy: float) -> list[float]:
    """Per trial: the gap to the same worker's next trial start, minus the trial's sleep."""
    by_worker: dict[Any, list[float]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        assert t.datetime_start is not None
        by_worker.setdefault(t.user_attrs.get("worker"), []).append(
            t.datetime_start.timestamp())
    gaps = []
    for starts in by_worker.values():
        starts.sort()
        gaps += [b - a - busy for a, b in zip(starts, starts[1:], strict=False)]
    return gaps


def _rate(study: optuna.Study) -> tuple[int, float]:
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    first = min(t.datetime_start.timestamp() for t in trials if t.datetime_start)
    last = max(t.datetime_complete.timestamp() for t in trials if t.datetime_complete)
    return len(trials), len(trials) / (last - first) * 60


def _coordination(
    root: Path, sleep: float, per_worker: int, counts: tuple[int, ...],
    kinds: list[str] | None = None,
) -> None:
    from kanlab.testing.postgres import grpc_proxy, postgres_server, unavailable

    epochs = 3
    os.environ["KANLAB_TOY_EPOCHS"] = str(epochs)
    root.mkdir(parents=True, exist_ok=True)  # the SQLite files' folder
    kinds = kinds or list(STORAGES)
    unknown = [k for k in kinds if k not in STORAGES]
    if unknown:
        raise SystemExit(f"`--storages` must name some of {', '.join(STORAGES)}, but got "
                         f"--storages={','.join(kinds)}.")
    server = {"postgresql", "grpc"} & set(kinds)
    reason = unavailable() if server else None
    if reason is not None:
        print(f"  (PostgreSQL skipped: {reason})")
    storages = [k for k in STORAGES if k in kinds and (k not in server or reason is None)]
    print(f"coordination: toy objective, {epochs} epochs x {sleep}s sleep per trial, "
          f"{per_worker} trials per worker, workers {counts}; random sampler")
    print(f"  (load average before: {os.getloadavg()[0]:.2f}; postgresql = direct, grpc = the "
          "same server through `kanlab storage serve`)")
    with (postgres_server() if server & set(storages) else nullcontext()) as pg_url, \
            (grpc_proxy(pg_url) if "grpc" in storages and pg_url else nullcontext()) as grpc_url:
        for rounds, nap in (("sleeping trials", sleep), ("no sleep (ceiling)", 0.0)):
            os.environ["KANLAB_TOY_SLEEP"] = str(nap)
            print(f"  {rounds}:")
            for kind in storages:
                base: float | None = None
                for workers in counts:
                    name = f"c_{kind}_{workers}_{int(nap * 1000)}"
                    url = (pg_url if kind == "postgresql" else grpc_url if kind == "grpc"
                           else f"sqlite:///{root}/{name}.db")
                    n = per_worker * workers
                    study = run_study(toy_spec(name, n), workers=workers, storage=url,
                                      study_name=name, results_dir=root / name)
                    done, rate = _rate(study)
                    over = _overheads(study, epochs * nap)
                    base = rate if base is None else base
                    print(f"    {kind:10s} {workers} workers: {done:3d} trials, "
                          f"{rate:7.1f} trials/min ({rate / base:4.2f}x one worker), "
                          f"median engine overhead {1000 * statistics.median(over):6.0f} ms "
                          f"per trial", flush=True)
    print("  targets: 8 workers >= 6x one on PostgreSQL (sleeping trials); overhead <= 100 ms")
    print(f"  (load average after: {os.getloadavg()[0]:.2f})")


# --------------------------------------------------------------------------- 4. large studies


def _large(root: Path, n: int = 2000) -> None:
    from kanlab.search._toy import fill_study

    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    floor = _timed([sys.executable, "-m", "kanlab.cli", "--version"], env)
    print(f"large: a {n}-trial toy study; each CLI command in a fresh interpreter, wall time "
          "(target <= 5 s, interpreter start and imports included); "
          f"`kanlab --version` takes {floor:.2f}s here (the CLI's start-up floor)")
    for kind, url in (("journal", f"journal:{root}/large.log"),
                      ("sqlite", f"sqlite:///{root}/large.db")):
        t0 = time.perf_counter()
        fill_study(url, "large", n)
        print(f"  {kind} (built in {time.perf_counter() - t0:.0f}s):")
        out = root / kind
        commands = [
            ("study list", ["study", "list", "--storage", url]),
            ("study show", ["study", "show", "--storage", url, "--study", "large"]),
            ("study best", ["study", "best", "--storage", url, "--study", "large"]),
            ("study export", ["study", "export", "--storage", url, "--study", "large"]),
            ("leaderboard", ["leaderboard", str(out / "synthetic"), "--quiet"]),
        ]
        for label, args in commands:
            wall = _timed([sys.executable, "-m", "kanlab.cli", *args, "--results-dir", str(out)],
                          env)
            print(f"    {label:14s}: {wall:5.2f}s ({wall - floor:+5.2f}s over the floor)",
                  flush=True)


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        print(run.stdout[-2000:], run.stderr[-2000:], sep="\n", file=sys.stderr)
        raise RuntimeError(f"{' '.join(cmd)} exited with {run.returncode}")
    return wall


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    parts = [p for p in ("pruning", "startup", "coordination", "large") if f"--{p}" in argv]
    parts = parts or ["pruning", "startup", "coordination", "large"]
    root = Path(tempfile.mkdtemp(prefix="kanlab-bench-search-"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import platform

    import torch

    from kanlab.provenance import code_version

    code = code_version()
    print(f"(machine: {platform.node()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; git_sha {code.git_sha}, code_sha {code.code_sha}, "
          f"dirty {code.git_dirty}; torch threads {torch.get_num_threads()}; optuna "
          f"{optuna.__version__})")
    if "pruning" in parts:
        n_trials, epochs, subset = (10, 6, 3000) if quick else (40, 10, 20000)
        sets = [f"trainer.max_epochs={epochs}", f"data.subset={subset}", "data.val_size=1000",
                "model.widths=[784, 16, 10]", "data.batch_size=256"]
        if quick:
            print("  (--quick: a small subset and few trials; the full run is the figure)")
        _pruning(root / "pruning", n_trials, epochs, sets)
    if "startup" in parts:
        _startup(root)
    if "coordination" in parts:
        per_worker = next((int(a.split("=", 1)[1]) for a in argv
                           if a.startswith("--trials-per-worker=")), 3 if quick else 6)
        storages = next((a.split("=", 1)[1].split(",") for a in argv
                         if a.startswith("--storages=")), list(STORAGES))
        _coordination(root / "coordination", sleep=0.5 if quick else 1.0,
                      per_worker=per_worker, counts=(1, 4, 8), kinds=storages)
    if "large" in parts:
        _large(root / "large")
    return 0
