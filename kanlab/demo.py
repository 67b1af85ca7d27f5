"""``make demo``: a small real search on Fashion-MNIST, then its leaderboard.

Runs ``search/demo.yaml`` (a 5,000-image subset, 3 epochs, median pruning) over MLP
activations and KAN layer types into ``results/demo`` (gitignored, so the committed results
stay untouched; ``--results-dir`` or ``$KANLAB_RESULTS`` choose another place), exports the
study, and prints the Fashion-MNIST leaderboard including the search trials. Rerunning
resumes the study (finished trials are kept).

Usage: ``python -m kanlab.demo [--workers W] [--n-trials N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kanlab.cli import main as cli_main

__all__ = ["main"]

SPEC = Path(__file__).resolve().parents[1] / "search" / "demo.yaml"
DEFAULT_RESULTS = Path("results") / "demo"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kanlab.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--n-trials", type=int)
    parser.add_argument("--results-dir")
    args = parser.parse_args(argv)
    results = args.results_dir or os.environ.get("KANLAB_RESULTS") or str(DEFAULT_RESULTS)
    common = ["--results-dir", results]
    search = ["search", str(SPEC), "--workers", str(args.workers), *common]
    if args.n_trials:
        search += ["--n-trials", str(args.n_trials)]
    code = cli_main(search)
    if code != 0:
        return code
    code = cli_main(["study", "export", "--study", "demo_fashion_mnist", *common])
    if code != 0:
        return code
    return cli_main(["leaderboard", "fashion_mnist", "--include-trials", "--output", "-",
                     *common])


if __name__ == "__main__":
    sys.exit(main())
