"""Reproduction runs of results/fashion_mnist (CPU, one process, torch threads = 1).

Equivalent to, for every seed S in 0 1 2 and every config C in configs/ (in the order below):

    OMP_NUM_THREADS=1 kanlab train results/fashion_mnist/configs/C.yaml --set seed=S \
        --results-dir results --no-progress-bar

run in one Python process so the imports and the dataset load are paid once. Seeds sweep
outermost, so an interrupted batch still leaves every configuration with the same n.
Usage: OMP_NUM_THREADS=1 .venv/bin/python results/fashion_mnist/reproduce.py [SEEDS...]
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
    seeds = [int(s) for s in sys.argv[1:]] or [0, 1, 2]
    for seed in seeds:
        for name in ORDER:
            cfg = load_experiment(HERE / "configs" / f"{name}.yaml", [f"seed={seed}"])
            start = time.perf_counter()
            result = train(cfg, results_dir=HERE.parent, progress_bar=False)
            logging.info("%s seed %d: %s (%.0f s)", name, seed, result.metrics,
                         time.perf_counter() - start)
