"""Search engine benchmark: what median pruning saves, and how 2 local workers scale.

``python -m bench search [--quick]``

1. Pruning: the shipped ``search/kan_grid.yaml`` study run twice with the same TPE seed and
   the same trial budget, once with its median pruner and once without pruning; reports
   total epochs trained, the complete/pruned split, the best ``val/acc`` and the best trial's
   configuration of each arm, and what became of the unpruned arm's best configuration in the
   pruned arm (target: >= 3x fewer epochs at an equal best, +-0.3 pp).
2. Workers: ``kanlab search`` started as a fresh process with ``--workers 1`` and with
   ``--workers 2``, timed from launch to exit (interpreter start, imports and worker start-up
   included: what a user waits for). Both arms train the same configurations (the study's
   first ``n`` draws, i.e. TPE's random start-up trials, enqueued in the same order) with
   the same trial length as 1. and no pruning, so they do the same work; reports finished
   trials per minute (target: 2 workers >= 1.7x one worker).

``--pruning`` or ``--workers`` runs one part only. Part 1 counts epochs, which do not depend
on the machine's load; part 2 measures time, so give it the CPU (e.g.
``flock /tmp/kanlab-quiet.lock python -m bench search --workers``). ``--quick`` uses a small
data subset, few epochs and few trials so it runs in a few minutes on 2 cores; there
start-up costs dominate the short trials, so its worker numbers say little.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from kanlab.search import load_study, run_study

SPEC = Path(__file__).resolve().parents[1] / "search" / "kan_grid.yaml"


def _epochs(study: optuna.Study) -> int:
    return sum(int(t.user_attrs.get("epochs", 0)) for t in study.trials)


def _spec(pruner: str) -> dict[str, Any]:
    """The shipped study, or the same without pruning (its base made absolute)."""
    raw = yaml.safe_load(SPEC.read_text())
    raw["base"] = str((SPEC.parent / raw["base"]).resolve())
    if pruner == "none":
        raw["pruner"] = {"name": "none"}
    return dict(raw)


def _label(params: dict[str, Any]) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())


def _pruning(root: Path, n_trials: int, sets: list[str]) -> optuna.Study:
    print(f"pruning: {SPEC.name} pruner {_spec('median')['pruner']}")
    studies: dict[str, optuna.Study] = {}
    for pruner in ("median", "none"):
        t0 = time.perf_counter()
        study = run_study(_spec(pruner), n_trials=n_trials, study_name=f"prune_{pruner}",
                          results_dir=root / pruner, overrides=sets)
        studies[pruner] = study
        states = [t.state for t in study.trials]
        best = study.best_trial
        print(f"  {pruner:6s}: epochs {_epochs(study):4d}  trials {len(states)} "
              f"({states.count(TrialState.COMPLETE)} complete, "
              f"{states.count(TrialState.PRUNED)} pruned)  best val/acc {study.best_value:.4f} "
              f"(trial {best.number}: {_label(best.params)})  "
              f"wall {time.perf_counter() - t0:.0f}s")
    pruned, full = studies["median"], studies["none"]
    ratio = _epochs(full) / max(1, _epochs(pruned))
    gap = 100 * (pruned.best_value - full.best_value)
    print(f"  epochs saved: {ratio:.2f}x (target >= 3x); best difference {gap:+.2f} pp "
          "(target within +-0.3 pp)")
    # Trial t trains with seed spec.seed + t: the same number and configuration is the same run.
    winner = full.best_trial
    twin = next((t for t in pruned.trials if t.number == winner.number), None)
    if twin is not None and twin.params == winner.params:
        value = max(twin.intermediate_values.values(), default=float("nan"))
        fate = (f"trial {winner.number} is the same run there: {twin.state.name.lower()} after "
                f"{twin.user_attrs.get('epochs')} epochs ({value:.4f})")
    else:
        fate = f"trial {winner.number} drew another configuration there"
    same = [t.state for t in pruned.trials if t.params == winner.params]
    print(f"  unpruned best: trial {winner.number} ({_label(winner.params)}); in the pruned arm "
          f"{fate}; that configuration ran {len(same)} times there "
          f"({same.count(TrialState.COMPLETE)} complete, {same.count(TrialState.PRUNED)} pruned)")
    return full


def _workers(root: Path, n_trials: int, sets: list[str], configs: list[dict[str, Any]]) -> None:
    spec = root / "kan_grid_no_pruning.yaml"
    spec.write_text(yaml.safe_dump(_spec("none"), sort_keys=False))
    epochs = next(s for s in sets if s.startswith("trainer.max_epochs="))
    print(f"workers: `kanlab search` as a fresh process, {n_trials} trials x "
          f"{epochs.split('=')[1]} epochs (the same configurations in both arms), no pruning")
    rates = {}
    for workers in (1, 2):
        out = root / f"w{workers}"
        name = f"workers_{workers}"
        (out / "studies").mkdir(parents=True)
        study = optuna.create_study(study_name=name, direction="maximize",
                                    storage=f"sqlite:///{out}/studies/{name}.db")
        for params in configs:
            study.enqueue_trial(params)
        cmd = [sys.executable, "-m", "kanlab.cli", "search", str(spec), "--study", name,
               "--n-trials", str(n_trials), "--workers", str(workers),
               "--results-dir", str(out), "--set", *sets]
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
        elapsed = time.perf_counter() - t0
        if run.returncode != 0:
            print(run.stdout, run.stderr, sep="\n", file=sys.stderr)
            raise RuntimeError(f"{' '.join(cmd)} exited with {run.returncode}")
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{out}/studies/{name}.db")
        done = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if len(done) != n_trials or any(t.params not in configs for t in done):
            raise RuntimeError(f"{name}: expected the {n_trials} enqueued trials to complete")
        rates[workers] = len(done) / elapsed * 60
        print(f"  {workers} worker(s): {len(done)} trials in {elapsed:.0f}s = "
              f"{rates[workers]:.1f} trials/min")
    print(f"  2-worker speed-up: {rates[2] / rates[1]:.2f}x (target >= 1.7x)")


def _configs(n: int, sets: list[str]) -> list[dict[str, Any]]:
    """The study's first ``n`` parameter draws, without training.

    With ``n`` <= 10 (TPE's random start-up trials) they do not depend on the trials' values,
    so they are the configurations the study itself starts with (checked in part 1).
    """
    plan = load_study(_spec("none"), sets)
    study = optuna.create_study(direction="maximize", sampler=plan.make_sampler())
    configs = []
    for _ in range(n):
        trial = study.ask()
        plan.spec.space.suggest(trial, plan.base_raw)
        configs.append(dict(trial.params))
        study.tell(trial, 0.0)
    return configs


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    parts = [p for p in ("pruning", "workers") if f"--{p}" in argv] or ["pruning", "workers"]
    n_trials, epochs, subset, n_timed = (10, 6, 3000, 6) if quick else (40, 10, 20000, 10)
    sets = [f"trainer.max_epochs={epochs}", f"data.subset={subset}", "data.val_size=1000",
            "model.widths=[784, 16, 10]", "data.batch_size=256"]
    root = Path(tempfile.mkdtemp(prefix="kanlab-bench-search-"))
    print(f"study: {n_trials} trials x {epochs} epochs, subset {subset}, widths [784, 16, 10], "
          "batch 256")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if "pruning" in parts:
        full = _pruning(root, n_trials, sets)
        if [t.params for t in full.trials[:n_timed]] != _configs(n_timed, sets):
            raise RuntimeError("the unpruned study did not start with the sampler's draws")
    if "workers" in parts:
        _workers(root, n_timed, sets, _configs(n_timed, sets))
    return 0
