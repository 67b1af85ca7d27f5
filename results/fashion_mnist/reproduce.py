"""Reproduction runs of results/fashion_mnist (CPU, one process, torch threads = 1).

Equivalent to, for every seed S in 0 1 2 and every config C in configs/ (in the order below):

    OMP_NUM_THREADS=1 kanlab train results/fashion_mnist/configs/C.yaml --set seed=S \
        --results-dir results --no-progress-bar

run in one Python process so the imports and the dataset load are paid once. Seeds sweep
outermost, so an interrupted batch still leaves every configuration with the same n.
Usage: OMP_NUM_THREADS=1 .venv/bin/python results/fashion_mnist/reproduce.py [SEEDS...]
[--configs a,b]. A failing run is logged and skipped (the others still run).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import torch

from kanlab.config import load_experiment
from kanlab.lit.train import train

ORDER = ("mlp", "crrelu_mlp", "eafo_mlp", "topk_mlp", "af_kan", "relu_kan", "fast_kan",
         "b_spline_kan", "s_kan")
HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    args = sys.argv[1:]
    names = ORDER
    if "--configs" in args:
        i = args.index("--configs")
        names = tuple(args[i + 1].split(","))
        args = args[:i] + args[i + 2:]
    seeds = [int(s) for s in args] or [0, 1, 2]
    for seed in seeds:
        for name in names:
            cfg = load_experiment(HERE / "configs" / f"{name}.yaml", [f"seed={seed}"])
            start = time.perf_counter()
            try:
                result = train(cfg, results_dir=HERE.parent, progress_bar=False)
            except Exception:
                logging.exception("%s seed %d failed", name, seed)
                continue
            logging.info("%s seed %d: %s (%.0f s)", name, seed, result.metrics,
                         time.perf_counter() - start)
