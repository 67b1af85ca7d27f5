"""Pilot: S-KAN's stage lengths for the function-fitting protocol, chosen on validation MSE only.

The committed protocol (experiments/function_fitting/s_kan.yaml: full-batch L-BFGS, early
stopping on val MSE with patience 20 under 300 epochs) switches S-KAN from the full to the
selective stage at ``selective_epoch`` and prunes at ``pruned_epoch``. This pilot trains S-KAN
(``model.widths=[n, 2, 1]``, as in reproduce.yaml) on six of the seven functions at seeds 0, 1
and 2 under three stage settings and writes one JSON line per run to ``stage_pilot.jsonl``: the
best (checkpointed, pruned-stage) val MSE, epochs run, best epoch, stop reason, wall time,
threads and code version. Test metrics are deliberately not written: the choice must not see
them. ``exp_mean_sin_sq_100d`` is left out for CPU time. Resumable: a (function, seed,
setting) already in the file is not run again.

Decision rule (fixed before the run): the setting with the lowest geometric-mean val MSE over
all (function, seed) pairs; the per-function wins are printed as a check.

Run from the repository root (one thread, so the numbers are reproducible):
    OMP_NUM_THREADS=1 python results/function_fitting/pilot/stage_pilot.py
    OMP_NUM_THREADS=1 python results/function_fitting/pilot/stage_pilot.py --summary  # re-read
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from kanlab.config import load_experiment
from kanlab.lit.train import train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUT = HERE / "stage_pilot.jsonl"
INPUTS = {"bessel_j0_20x": 1, "legendre_p31": 1, "exp_sin_sq": 2, "xy": 2, "exp_sin_4d": 4,
          "arctan_5d": 5}
SETTINGS = [(10, 15), (20, 30), (40, 60)]  # (selective_epoch, pruned_epoch)
SEEDS = [0, 1, 2]


def _rows() -> list[dict[str, Any]]:
    if not OUT.exists():
        return []
    return [json.loads(line) for line in OUT.read_text().splitlines() if line.strip()]


def run() -> None:
    torch.set_num_threads(1)
    done = {(r["function"], r["seed"], r["selective_epoch"], r["pruned_epoch"]) for r in _rows()}
    for function, n in INPUTS.items():
        for seed in SEEDS:
            for selective, pruned in SETTINGS:
                if (function, seed, selective, pruned) in done:
                    continue
                cfg = load_experiment(
                    ROOT / "experiments" / "function_fitting" / "s_kan.yaml",
                    [f"name={function}-s_kan-stages{selective}_{pruned}", f"seed={seed}",
                     f"data.function={function}", f"model.widths=[{n}, 2, 1]",
                     f"trainer.callbacks.0.selective_epoch={selective}",
                     f"trainer.callbacks.0.pruned_epoch={pruned}"])
                started = time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:
                    row = train(cfg, results_dir=Path(tmp), progress_bar=False).row
                line = {
                    "function": function, "seed": seed, "selective_epoch": selective,
                    "pruned_epoch": pruned, "val_mse": row["metrics"].get("val/loss"),
                    "epochs": row["epochs"], "best_epoch": row["best_epoch"],
                    "max_epochs": cfg.trainer.max_epochs, "stop_reason": row.get("stop_reason"),
                    "wall_s": round(time.perf_counter() - started, 1), "threads": row["threads"],
                    "git_sha": row["git_sha"], "code_sha": row["code_sha"],
                    "git_dirty": row["git_dirty"],
                }
                print(json.dumps(line), flush=True)
                with open(OUT, "a") as f:
                    f.write(json.dumps(line) + "\n")


def summary() -> None:
    rows = _rows()
    logs: dict[tuple[int, int], list[float]] = defaultdict(list)
    per_fn: dict[tuple[str, tuple[int, int]], list[float]] = defaultdict(list)
    for r in rows:
        key = (r["selective_epoch"], r["pruned_epoch"])
        logs[key].append(math.log(r["val_mse"]))
        per_fn[(r["function"], key)].append(math.log(r["val_mse"]))
    print("geometric-mean val MSE over (function, seed):")
    for key, values in sorted(logs.items()):
        print(f"  stages {key[0]}/{key[1]}: {math.exp(sum(values) / len(values)):.3e} "
              f"({len(values)} runs)")
    wins: dict[tuple[int, int], int] = defaultdict(int)
    for function in INPUTS:
        means = {k: sum(v) / len(v) for (f, k), v in per_fn.items() if f == function}
        if means:
            best = min(means, key=lambda k: means[k])
            wins[best] += 1
            print(f"  {function}: " + ", ".join(
                f"{k[0]}/{k[1]} {math.exp(m):.2e}" for k, m in sorted(means.items()))
                  + f" -> {best[0]}/{best[1]}")
    print("functions won: " + ", ".join(f"{k[0]}/{k[1]}: {v}" for k, v in sorted(wins.items())))


if __name__ == "__main__":
    if "--summary" not in sys.argv[1:]:
        run()
    summary()
