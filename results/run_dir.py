"""Print the run directory of a committed run, retraining it when this machine lacks it.

Usage (from the repository root): ``python results/run_dir.py [--recorded] BENCH NAME [SEED]``
(``--recorded``: print the committed row's own ``results/<run_dir>``, retraining nothing).

The plot and symbolic scripts under results/ need checkpoints, which are not committed (run
directories are gitignored). When ``results/<run_dir>`` of the committed row (``name`` NAME,
seed SEED, default 0, status completed) is on this machine, its path is printed; otherwise (a
fresh clone) the run is retrained from the config its row records into
``$KANLAB_SCRATCH`` (default ``results/local/retrained``; the committed ``runs.jsonl`` is not
touched) and that path is printed. Training on CPU is deterministic, so the retrained model
is the recorded one up to thread-count rounding. A second call reuses the retrained run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml


def main(bench: str, name: str, seed: int = 0, *, recorded: bool = False) -> str:
    runs = Path("results") / bench / "runs.jsonl"
    every = [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]
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
    if done.is_file():  # retrained before: same config hash and seed
        for line in reversed(done.read_text().splitlines()):
            r = json.loads(line)
            if r["config_hash"] == row["config_hash"] and r["seed"] == seed:
                if (scratch / r["run_dir"]).is_dir():
                    return str(scratch / r["run_dir"])
    print(f"results/{row['run_dir']} is not on this machine: retraining it from its recorded "
          f"config into {scratch}", file=sys.stderr)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(row["config"], f, sort_keys=False)
    try:
        subprocess.run(["kanlab", "train", f.name, "--results-dir", str(scratch)],
                       check=True, stdout=subprocess.DEVNULL)
    finally:
        os.unlink(f.name)
    new = json.loads(done.read_text().splitlines()[-1])
    return str(scratch / new["run_dir"])


if __name__ == "__main__":
    args = sys.argv[1:]
    flag = args[:1] == ["--recorded"]
    args = args[1:] if flag else args
    if len(args) not in (2, 3):
        sys.exit(__doc__.split("\n\n")[1])
    print(main(args[0], args[1], int(args[2]) if len(args) == 3 else 0, recorded=flag))
