"""Reproduction runs of results/fashion_mnist (CPU, torch threads = 1 per process).

Equivalent to, for every seed S in 0 1 2 and every job J below (seeds outermost):

    OMP_NUM_THREADS=1 kanlab train <J's YAML> --set seed=S [J's overrides] --results-dir results

run in one Python process per worker so the imports and the dataset load are paid once.
``--worker I/W`` takes every W-th job of that seed-major list starting at I, so W workers
(one per core) split the work and an interrupted batch still leaves every configuration with
nearly the same n. A failing run is logged and skipped (the others still run).

Usage: OMP_NUM_THREADS=1 .venv/bin/python results/fashion_mnist/reproduce.py
       [SEEDS...] [--configs a,b] [--worker I/W]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from kanlab.config import load_experiment
from kanlab.lit.train import train

HERE = Path(__file__).resolve().parent
# name -> (experiment YAML, overrides). The study's best trial (exported by
# `kanlab study export`) is re-run with the protocol's epoch count, under its own name.
JOBS: dict[str, tuple[Path, list[str]]] = {
    name: (HERE / "configs" / f"{name}.yaml", [])
    for name in ("mlp", "crrelu_mlp", "eafo_mlp", "topk_mlp", "af_kan", "relu_kan",
                 "fast_kan", "b_spline_kan", "s_kan")
}
JOBS["fmnist_52k_best"] = (
    HERE / "studies" / "fmnist_52k_best.yaml",
    ["name=fmnist_52k_best", "trainer.max_epochs=25", "trainer.test_every_epoch=true"],
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--configs", help="comma-separated job names (default: all)")
    parser.add_argument("--worker", default="0/1", help="I/W: this worker's share of the jobs")
    args = parser.parse_args()
    index, count = (int(v) for v in args.worker.split("/"))
    names = args.configs.split(",") if args.configs else list(JOBS)
    jobs = [(seed, name) for seed in args.seeds for name in names][index::count]
    torch.set_num_threads(1)
    for seed, name in jobs:
        path, overrides = JOBS[name]
        cfg = load_experiment(path, [*overrides, f"seed={seed}"])
        start = time.perf_counter()
        try:
            result = train(cfg, results_dir=HERE.parent, progress_bar=False)
        except Exception:
            logging.exception("%s seed %d failed", name, seed)
            continue
        logging.info("%s seed %d: %s (%.0f s)", name, seed, result.metrics,
                     time.perf_counter() - start)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main()
