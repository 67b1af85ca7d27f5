"""Training throughput: one epoch of full Fashion-MNIST for a 784-64-10 MLP on CPU (or GPU).

Run: ``python -m bench train_throughput [--batch-size=64] [--threads=N] [--device=cpu]
[--skip-lightning]`` (use the ``=`` form: ``python -m bench`` forwards only flags).

What is timed, on the 55,000 training images of the ``fashion_mnist`` data module (5,000 are
carved off for validation):

* **loader**: iterating the training DataLoader once (gather + normalise per batch);
* **steps**: forward, backward and AdamW step over the same batches, pre-fetched, so no
  loading is included;
* **plain loop**: loader and steps together, as a hand-written epoch;
* **lightning**: ``kanlab.lit.train`` for one epoch (fit + validation + one test pass on the
  best checkpoint + cost measurements), i.e. what ``kanlab train`` costs end to end.

The data must be on disk or extractable offline (Debian ``dataset-fashion-mnist``).
Timings on a shared machine are noisy; the loader/steps split is the meaningful number.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench train_throughput")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-lightning", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import kanlab.data  # noqa: F401  (fills DATAMODULES)
    from kanlab.config import load_experiment
    from kanlab.registry import DATAMODULES

    device = torch.device(args.device)
    dm = DATAMODULES.build({"name": "fashion_mnist", "batch_size": args.batch_size,
                            "normalize": "minus_one_one"})
    t0 = time.perf_counter()
    dm.prepare_data()
    dm.setup("fit")
    t_setup = time.perf_counter() - t0

    t0 = time.perf_counter()
    batches = [(x.to(device), y.to(device)) for x, y in dm.train_dataloader()]
    t_loader = time.perf_counter() - t0

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    model.to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optim.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optim.step()

    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for x, y in batches:
        step(x, y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t_steps = time.perf_counter() - t0

    t0 = time.perf_counter()
    for x, y in dm.train_dataloader():
        step(x.to(device), y.to(device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    t_plain = time.perf_counter() - t0

    n = len(dm.train_set)
    print(f"fashion_mnist train images: {n}, batch {args.batch_size}, {len(batches)} steps, "
          f"threads {torch.get_num_threads()}, device {device}")
    print(f"  setup (load uint8 arrays, split) {t_setup:7.2f} s")
    print(f"  loader only                      {t_loader:7.2f} s  "
          f"({n / t_loader:,.0f} img/s)")
    print(f"  steps only (fwd+bwd+AdamW)       {t_steps:7.2f} s  "
          f"({1e3 * t_steps / len(batches):.2f} ms/step)")
    print(f"  plain loop (loader + steps)      {t_plain:7.2f} s  "
          f"(loader share {t_loader / max(t_plain, 1e-9):.0%})")

    if not args.skip_lightning:
        from kanlab.lit.train import train

        cfg = load_experiment({
            "name": "bench_mlp",
            "model": {"name": "mlp", "widths": [784, 64, 10]},
            "data": {"name": "fashion_mnist", "batch_size": args.batch_size,
                     "normalize": "minus_one_one"},
            "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4},
            "trainer": {"max_epochs": 1, "progress_bar": False,
                        "accelerator": "gpu" if device.type == "cuda" else "cpu"},
        })
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train(cfg, results_dir=Path(tmp), record=False)
            t_lit = time.perf_counter() - t0
        epoch = result.metrics.get("epoch_time_s", float("nan"))
        print(f"  lightning train(), 1 epoch       {t_lit:7.2f} s  "
              f"(fit epoch incl. val {epoch:.2f} s; val/acc {result.metrics['val/acc']:.4f}, "
              f"test/acc {result.metrics['test/acc']:.4f})")
    return 0
