"""Print the run directory of a committed run, retraining it when this machine lacks it.

Usage (from the repository root): ``python results/run_dir.py [--recorded] BENCH NAME [SEED]``
(``--recorded``: print the committed row's own ``results/<run_dir>``, retraining nothing).

The plot and symbolic scripts under results/ need checkpoints, which are not committed (run
directories are gitignored). When ``results/<run_dir>`` of the committed row (``name`` NAME,
seed SEED, default 0, status completed) is on this machine, its path is printed; otherwise (a
fresh clone) the run is retrained into ``$KANLAB_SCRATCH`` (default
``results/local/retrained``; the committed ``runs.jsonl`` is not touched) and that path is
printed. It is retrained from the experiment YAML and overrides ``kanlab reproduce`` would use
(else, in a directory without ``reproduce.yaml``, from the config its row records). Training
on CPU is deterministic for a given torch thread count (the row's ``threads``, where recorded;
``kanlab reproduce`` uses cores // workers): with the row's count the retrained model is the
recorded one bit for bit, with another it is up to float rounding, which a chaotic fit can
amplify. A second call reuses the retrained run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from kanlab.config import ExperimentConfig, load_experiment
from kanlab.lit.train import train
from kanlab.results.leaderboard import read_runs
from kanlab.results.reproduce import plan


def main(bench: str, name: str, seed: int = 0, *, recorded: bool = False) -> str:
    runs = Path("results") / bench / "runs.jsonl"
    every = read_runs(runs)
    rows = [r for r in every if r.get("name") == name and r.get("seed") == seed
            and r.get("status") == "completed" and not r.get("trial")]
    if not rows:
        from kanlab.registry import suggest

        names = sorted({str(r.get("name")) for r in every if not r.get("trial")})
        sys.exit(f"`NAME` must name a completed seed-{seed} run of {runs}, but got {name!r}."
                 f"{suggest(name, names)}")
    row = rows[-1]
    if recorded or (Path("results") / row["run_dir"]).is_dir():
        return str(Path("results") / row["run_dir"])
    scratch = Path(os.environ.get("KANLAB_SCRATCH", "results/local/retrained"))
    done = scratch / row["benchmark"] / "runs.jsonl"
    retrained = read_runs(done) if done.is_file() else []
    for r in reversed(retrained):  # retrained before: same config hash and seed
        if (r["config_hash"], r["seed"]) == (row["config_hash"], seed) and (
                scratch / r["run_dir"]).is_dir():
            return str(scratch / r["run_dir"])
    print(f"results/{row['run_dir']} is not on this machine: retraining it from its recorded "
          f"config into {scratch}", file=sys.stderr)
    result = train(_config(Path("results") / bench, row), results_dir=scratch,
                   progress_bar=False)
    return str(result.run_dir)


def _config(bench: Path, row: dict[str, Any]) -> ExperimentConfig:
    """The row's config as ``kanlab reproduce`` builds it (experiment YAML + the manifest's
    overrides, so under this code's defaults and with the row's config hash), else as the row
    recorded it (a directory without reproduce.yaml)."""
    if (bench / "reproduce.yaml").is_file():
        for job in plan(bench):
            if (job.config_hash, job.seed) == (row["config_hash"], row["seed"]):
                return load_experiment(job.experiment, [*job.overrides, f"seed={job.seed}"])
    return load_experiment(row["config"])


if __name__ == "__main__":
    args = sys.argv[1:]
    flag = args[:1] == ["--recorded"]
    args = args[1:] if flag else args
    if len(args) not in (2, 3):
        sys.exit(__doc__.split("\n\n")[1])
    print(main(args[0], args[1], int(args[2]) if len(args) == 3 else 0, recorded=flag))
