"""Search engine benchmark: what median pruning saves, and how 2 local workers scale.

``python -m bench search [--quick]``

1. Pruning: the shipped ``search/kan_grid.yaml`` study run twice with the same TPE seed, once
   with its median pruner and once without pruning; reports total epochs trained and the
   best ``val/acc`` of each (target: >= 3x fewer epochs at an equal best, +-0.3 pp).
2. Workers: the same small study with 1 and with 2 local worker processes; reports finished
   trials per minute (target: 2 workers >= 1.7x one worker).

Timings on a shared machine are noisy; ``--quick`` uses a small data subset, few epochs and
few trials so it runs in a few minutes on 2 cores.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from kanlab.search import run_study

SPEC = Path(__file__).resolve().parents[1] / "search" / "kan_grid.yaml"


def _epochs(study: object) -> int:
    return sum(int(t.user_attrs.get("epochs", 0)) for t in study.trials)  # type: ignore[attr-defined]


def _spec(pruner: str) -> dict[str, Any]:
    """The shipped study with another pruner (its base made absolute)."""
    raw = yaml.safe_load(SPEC.read_text())
    raw["base"] = str((SPEC.parent / raw["base"]).resolve())
    if pruner == "none":
        raw["pruner"] = {"name": "none"}
    return dict(raw)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    n_trials, epochs, subset = (10, 6, 3000) if quick else (40, 10, 20000)
    sets = [f"trainer.max_epochs={epochs}", f"data.subset={subset}", "data.val_size=1000",
            "model.widths=[784, 16, 10]", "data.batch_size=256"]
    root = Path(tempfile.mkdtemp(prefix="kanlab-bench-search-"))
    print(f"pruning: {SPEC.name}, {n_trials} trials x {epochs} epochs, subset {subset}")
    results = {}
    for pruner in ("median", "none"):
        t0 = time.perf_counter()
        study = run_study(_spec(pruner), n_trials=n_trials, study_name=f"prune_{pruner}",
                          results_dir=root / pruner, overrides=sets)
        results[pruner] = (_epochs(study), study.best_value, time.perf_counter() - t0)
        print(f"  {pruner:6s}: epochs {results[pruner][0]:4d}  best val/acc "
              f"{results[pruner][1]:.4f}  wall {results[pruner][2]:.0f}s")
    ratio = results["none"][0] / max(1, results["median"][0])
    gap = 100 * (results["median"][1] - results["none"][1])
    print(f"  epochs saved: {ratio:.2f}x (target >= 3x); best difference {gap:+.2f} pp "
          "(target within +-0.3 pp)")
    rates = {}
    small = [*sets[:-1], "trainer.max_epochs=2"]
    for workers in (1, 2):
        t0 = time.perf_counter()
        study = run_study(_spec("none"), n_trials=2 * workers + 4, workers=workers,
                          study_name=f"workers_{workers}", results_dir=root / f"w{workers}",
                          overrides=small)
        elapsed = time.perf_counter() - t0
        rates[workers] = len(study.trials) / elapsed * 60
        print(f"  {workers} worker(s): {len(study.trials)} trials in {elapsed:.0f}s = "
              f"{rates[workers]:.1f} trials/min")
    print(f"  2-worker speed-up: {rates[2] / rates[1]:.2f}x (target >= 1.7x)")
    return 0
