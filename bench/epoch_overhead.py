"""What an epoch of ``kanlab train`` costs beyond its steps, and what the committed 25-epoch
Fashion-MNIST table would cost at this code.

Run: ``python -m bench epoch_overhead [--threads=1] [--epochs=3] [--models=mlp,b_spline_kan]
[--rounds=1] [--no-protocol] [--protocol-configs=all]
[--profile=mlp,b_spline_kan,fast_kan,af_kan]`` (use the ``=`` form: ``python -m bench``
forwards only flags).

0. **Profile of a batch-64 training step** in ``kanlab train``'s path, per model of
   ``--profile`` (``--profile=`` skips it): torch.profiler over 20 steps of the first epoch, per
   step: wall time, the aten ops' self CPU time and count, the rest (Python: Lightning, the
   optimizer's Python, autograd functions, kanlab), and the profiler's events by self time
   (``Optimizer.step#...``, ``*Backward`` and the like are Python ranges: their self time is
   the Python inside them).

1. **kanlab epoch vs a plain torch loop on the same tensors.** For each model (the
   configurations of ``results/fashion_mnist/reproduce.yaml``, seed 0: 784-64-10, batch 64,
   AdamW, per-epoch exponential lr, validation on 5,000 and the per-epoch test pass on 10,000
   images): ``kanlab.lit.train.train`` (Lightning: loaders, metrics, logging, checkpoints;
   the training batches in one step per epoch, ``kanlab/lit/epoch_step.py``, unless
   ``KANLAB_EPOCH_STEPS=0``) against a hand-written loop that draws a permutation with
   ``torch.randperm`` and indexes the data module's normalised split tensors, with the same
   model, optimizer groups and scheduler, and the same evaluation work (loss and accuracy on
   validation and test). Each runs
   ``--epochs`` epochs (default 3); the last epoch counts. The first pays one-off
   allocations, and in the second a KAN model's first layer switches to its compiled kernels
   (its calls at the batch-64 shape, training, validation and test, reach the eager budget
   ~2,000 calls in), so that epoch holds a compilation in both loops and its ratio swung
   between 0.96 and 1.33 from one run to the next; from the third epoch the first layer runs
   compiled (the 64-input second layer switches around epoch 6). Each of the ``--rounds``
   (default 1) rounds runs plain, kanlab, kanlab, plain (ABBA: a drift of the machine's speed
   during the run weighs on both alike), each in a fresh process, and a figure is the mean of
   its runs. Times are wall and process CPU time (with one thread, CPU time is what other
   processes on a shared machine disturb least); the ratio of the CPU times is the figure the
   targets judge: MLP <= 1.25, KAN <= 1.15.
2. **Projected cost of the committed protocol.** Each configuration of
   ``results/fashion_mnist/reproduce.yaml`` (seed 0) runs through ``kanlab train``'s path and is
   stopped after its first ``PROJECT_FROM`` epochs (as a pruner stops a run: best-checkpoint
   test, cost columns and all): a KAN layer runs its eager kernels until their work at one
   shape reaches about a compilation's cost (``kanlab.layers._compile``: ~2 epochs for the
   784-input layers at batch 64, ~6 for the 64-input ones), so the third epoch, first layer
   compiled and second still eager, overstates what the later epochs cost. A run is projected
   as that call's time plus the remaining epochs at the last epoch's time, and set beside the
   committed rows' recorded ``wall_time_s`` (median over the configuration's seeds at their
   commit; those runs shared the machine's two cores, one thread each, as ``kanlab reproduce``
   runs them, at whatever load the machine had then). S-KAN's first epochs are of its full
   stage, its most expensive one. Skip with ``--no-protocol``; ``--protocol-configs=mlp,af_kan``
   runs a few.

Every profile, loop and projected run is a fresh Python process (``python -c`` into
:func:`child`), so that none inherits another's state (allocator heap, compiled kernels,
Dynamo's caches), and tunes glibc's malloc as the ``kanlab`` CLI does (``kanlab/_malloc.py``),
for the plain loop too. (When one process ran them all, plain, kanlab, plain, the fast_kan
plain loop's third epoch took 6.4 s before the kanlab run and 9.3 s after it.) Timings on a
shared machine are noisy; compare figures of one run, and the load average it prints.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = ROOT / "results" / "fashion_mnist"
TARGETS = {"mlp": 1.25}  # every KAN: KAN_TARGET
KAN_TARGET = 1.15
EPOCHS_IN_PROTOCOL = 25
PROJECT_FROM = 3  # epochs run before the projection (the first ~2,000 calls are eager)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench epoch_overhead", description=__doc__)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--models", default="mlp,b_spline_kan")
    p.add_argument("--no-protocol", action="store_true")
    p.add_argument("--protocol-configs", default="all")
    p.add_argument("--profile", default="mlp,b_spline_kan,fast_kan,af_kan")
    p.add_argument("--rounds", type=int, default=1)
    args, _ = p.parse_known_args(argv)  # `python -m bench` passes every module the same flags
    return args


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _jobs() -> dict[str, Any]:
    """Seed-0 job of each configuration of the committed protocol, by name."""
    from kanlab.results.reproduce import plan

    return {job.name: job for job in plan(PROTOCOL) if job.seed == 0}


def _config(job: Any, epochs: int) -> Any:
    from kanlab.config import load_experiment

    return load_experiment(job.experiment, [*job.overrides, f"seed={job.seed}",
                                            f"trainer.max_epochs={epochs}"])


class _Clock:
    """Wall and process CPU time of each training epoch (train + validation + checkpoint)."""

    def __init__(self, stop_after: int | None = None) -> None:
        import lightning.pytorch as pl

        clock = self

        class Callback(pl.Callback):
            def on_train_epoch_start(self, *args: Any) -> None:
                clock.start = (time.perf_counter(), time.process_time())

            def on_train_epoch_end(self, trainer: pl.Trainer, *args: Any) -> None:
                clock.epochs.append((time.perf_counter() - clock.start[0],
                                     time.process_time() - clock.start[1]))
                if stop_after is not None and len(clock.epochs) >= stop_after:
                    trainer.should_stop = True

        self.start = (0.0, 0.0)
        self.epochs: list[tuple[float, float]] = []
        self.callback = Callback()


def kanlab_epochs(cfg: Any, stop_after: int | None = None) -> tuple[
    list[tuple[float, float]], float, dict[str, float]
]:
    """``kanlab.lit.train.train``: per-epoch (wall, cpu) s, the whole call's s, metrics.

    ``stop_after``: stop the run (as a pruner would) after that many epochs.
    """
    from kanlab.lit.train import train

    clock = _Clock(stop_after)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(cfg, results_dir=Path(tmp), record=False, progress_bar=False,
                       extra_callbacks=[clock.callback])
        wall = time.perf_counter() - start
    return clock.epochs, wall, result.metrics


def plain_epochs(cfg: Any) -> list[tuple[float, float]]:
    """The hand-written loop on the data module's tensors: per-epoch (wall, cpu) s."""
    from kanlab.lit._system import param_groups
    from kanlab.lit.train import build_datamodule, build_model
    from kanlab.optim import build_optimizer
    from kanlab.registry import SCHEDULERS

    torch.manual_seed(cfg.seed)
    dm: Any = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    splits = {}
    for name in ("train_set", "val_set", "test_set"):
        ds = getattr(dm, name)
        ds.prepare("cpu")
        splits[name] = ds.data
    batch = int(dm.batch_size)
    model = build_model(cfg)
    o = cfg.optim
    optimizer = build_optimizer(o.name, param_groups(model, o.weight_decay), lr=o.lr,
                                params=o.params)
    scheduler = SCHEDULERS.build(o.scheduler.to_dict(), optimizer) if o.scheduler else None
    evaluated = ["val_set"] + (["test_set"] if cfg.trainer.test_every_epoch else [])
    times = []
    for _ in range(cfg.trainer.max_epochs):
        start = (time.perf_counter(), time.process_time())
        model.train()
        x_all, y_all = splits["train_set"]
        order = torch.randperm(len(y_all))
        for idx in order.split(batch):  # type: ignore[no-untyped-call]
            x, y = x_all[idx], y_all[idx]
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for name in evaluated:
                x_all, y_all = splits[name]
                loss = torch.zeros(())
                correct = torch.zeros((), dtype=torch.long)
                for x, y in zip(x_all.split(batch), y_all.split(batch), strict=True):
                    logits = model(x)
                    loss += F.cross_entropy(logits, y) * len(y)
                    correct += (logits.argmax(1) == y).sum()
                float(loss / len(y_all)), float(correct / len(y_all))
        if scheduler is not None:
            scheduler.step()
        times.append((time.perf_counter() - start[0], time.process_time() - start[1]))
    return times


def _configs(flag: str, value: str, jobs: dict[str, Any], *, hint: str = "") -> list[str]:
    """The comma-separated protocol configurations ``--flag=value`` names (exits on others)."""
    names = [n for n in value.split(",") if n]
    unknown = [n for n in names if n not in jobs]
    if unknown:
        raise SystemExit(f"--{flag}: {unknown[0]!r} is not a configuration of the protocol; "
                         f"choose from {', '.join(jobs)}{hint}")
    return names


def epoch_vs_plain(args: argparse.Namespace, jobs: dict[str, Any]) -> list[tuple[str, float]]:
    names = _configs("models", args.models, jobs)
    if not names:
        return []
    print(f"kanlab epoch vs plain torch loop on the same tensors (protocol configs, seed 0, "
          f"batch 64, train 55,000 + val 5,000 + test 10,000; epoch {args.epochs} of "
          f"{args.epochs}; {args.rounds} round{'s' * (args.rounds > 1)} of plain, kanlab, "
          f"kanlab, plain, each a fresh process; means)", flush=True)
    print(f"{'model':<14} {'plain wall':>10} {'kanlab wall':>11} {'x':>5}   "
          f"{'plain cpu':>9} {'kanlab cpu':>10} {'x':>5}   load")
    ratios = []
    for name in names:
        runs: dict[str, list[tuple[float, float]]] = {"plain": [], "kanlab": []}
        for _ in range(args.rounds):
            for kind in ("plain", "kanlab", "kanlab", "plain"):
                runs[kind].append(tuple(_in_child(kind, name, args)["epochs"][-1]))
        plain, ours = (tuple(statistics.fmean(t[i] for t in runs[kind]) for i in (0, 1))
                       for kind in ("plain", "kanlab"))
        ratio = ours[1] / plain[1]
        print(f"{name:<14} {plain[0]:9.2f}s {ours[0]:10.2f}s {ours[0] / plain[0]:5.2f}   "
              f"{plain[1]:8.2f}s {ours[1]:9.2f}s {ratio:5.2f}   {os.getloadavg()[0]:.1f}",
              flush=True)
        ratios.append((name, ratio))
    return ratios


class _StepProfile:
    """torch.profiler over training steps ``first .. first + count - 1`` of the first epoch;
    stops the run after them."""

    def __init__(self, first: int, count: int) -> None:
        import lightning.pytorch as pl

        me = self
        self.prof: Any = None
        self.wall = 0.0

        class Callback(pl.Callback):
            def on_train_batch_start(self, trainer: Any, module: Any, batch: Any,
                                     batch_idx: int) -> None:
                if batch_idx == first:
                    from torch.profiler import ProfilerActivity, profile

                    me.prof = profile(activities=[ProfilerActivity.CPU])
                    me.prof.__enter__()
                    me.wall = time.perf_counter()

            def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any,
                                   batch_idx: int) -> None:
                if batch_idx == first + count - 1:
                    me.wall = time.perf_counter() - me.wall
                    me.prof.__exit__(None, None, None)
                    trainer.should_stop = True

        self.callback = Callback()


def step_profile(name: str, cfg: Any, *, first: int = 200, count: int = 20,
                 rows: int = 12) -> None:
    """Print torch.profiler's per-step summary of ``count`` batch-64 training steps of
    ``kanlab train``'s path (hook to hook: data fetch, forward, backward, AdamW, metrics,
    callbacks): wall per step, the aten ops' self CPU time (what torch's kernels cost) and the
    rest (Python: Lightning, autograd glue, kanlab), and the events by self time."""
    from kanlab.lit.train import train

    probe = _StepProfile(first, count)
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, results_dir=Path(tmp), record=False, progress_bar=False,
              extra_callbacks=[probe.callback])
    events = probe.prof.key_averages()
    aten = [e for e in events if e.key.startswith("aten::")]
    aten_us = sum(e.self_cpu_time_total for e in aten) / count
    ops = sum(e.count for e in aten) / count
    wall_us = probe.wall * 1e6 / count
    print(f"\nprofile: {name}, training steps {first}-{first + count - 1} of epoch 1 "
          f"(torch.profiler, CPU; per step): wall {wall_us / 1e3:.3f} ms = aten ops' self "
          f"time {aten_us / 1e3:.3f} ms ({ops:.0f} ops) + the rest "
          f"{max(wall_us - aten_us, 0.0) / 1e3:.3f} ms (Python: Lightning, optimizer, autograd "
          f"functions, kanlab; profiler overhead included)", flush=True)
    print(f"  {'op':<44} {'calls':>6} {'self ms':>8}")
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:rows]
    for e in top:
        print(f"  {e.key[:44]:<44} {e.count / count:6.1f} "
              f"{e.self_cpu_time_total / count / 1e3:8.3f}")


def recorded_costs() -> dict[str, float]:
    """Median recorded ``wall_time_s`` of the committed protocol rows, per configuration."""
    from kanlab.results.reproduce import plan

    wanted = {(j.config_hash, j.seed): j.name for j in plan(PROTOCOL)}
    per: dict[str, list[float]] = {}
    for line in (PROTOCOL / "runs.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        name = wanted.get((row.get("config_hash"), row.get("seed")))
        if name is not None and row.get("wall_time_s") is not None and not row.get("trial"):
            per.setdefault(name, []).append(float(row["wall_time_s"]))
    return {name: statistics.median(v) for name, v in per.items()}


def protocol_cost(args: argparse.Namespace, jobs: dict[str, Any]) -> None:
    names = list(jobs) if args.protocol_configs == "all" else _configs(
        "protocol-configs", args.protocol_configs, jobs)
    recorded = recorded_costs()
    seeds = len({j.seed for j in _all_jobs()})
    print(f"\nprojected cost of the committed {EPOCHS_IN_PROTOCOL}-epoch Fashion-MNIST protocol "
          f"(results/fashion_mnist/reproduce.yaml) per run: {PROJECT_FROM} epochs through kanlab "
          f"train's path (a fresh process each) + {EPOCHS_IN_PROTOCOL - PROJECT_FROM} x the "
          f"last one's time; recorded = median wall_time_s of the "
          f"committed rows ({_load()})", flush=True)
    print(f"{'config':<18} {'epoch s':>8} {'projected s':>12} {'recorded s':>11} "
          f"{'x recorded':>10}")
    projected_total = recorded_total = 0.0
    for name in names:
        out = _in_child("project", name, args)
        epochs, wall = out["epochs"], out["wall"]
        run = wall + (EPOCHS_IN_PROTOCOL - len(epochs)) * epochs[-1][0]
        past = recorded.get(name, math.nan)
        projected_total += run
        recorded_total += past
        print(f"{name:<18} {epochs[-1][0]:8.2f} {run:12.1f} {past:11.1f} {run / past:10.2f}",
              flush=True)
    print(f"{'per run, mean':<18} {'':>8} {projected_total / len(names):12.1f} "
          f"{recorded_total / len(names):11.1f} {projected_total / recorded_total:10.2f}")
    if len(names) == len(jobs):
        print(f"table ({len(names)} configurations x {seeds} seeds): projected "
              f"{projected_total * seeds / 3600:.2f} h of run time, recorded "
              f"{recorded_total * seeds / 3600:.2f} h (medians x seeds)")


def _all_jobs() -> Sequence[Any]:
    from kanlab.results.reproduce import plan

    return plan(PROTOCOL)


_RESULT = "epoch_overhead-result: "
"""The line prefix of a child's JSON result."""


def _in_child(kind: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`child` (``kind`` of ``name``) in a fresh Python process; its result.

    Its other output (a profile's table) is printed as it is."""
    argv = [sys.executable, "-c", "import sys; from bench.epoch_overhead import child; "
            "child(sys.argv[1:])", kind, name, str(args.epochs), str(args.threads)]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = out.stdout.splitlines()
    results = [json.loads(line[len(_RESULT):]) for line in lines if line.startswith(_RESULT)]
    if out.returncode or len(results) != 1:
        tail = " | ".join((out.stderr or out.stdout).strip().splitlines()[-3:])
        raise SystemExit(f"epoch_overhead: {kind} {name} failed (exit {out.returncode}): {tail}")
    text = "\n".join(line for line in lines if not line.startswith(_RESULT))
    if text.strip():
        print(text, flush=True)
    result: dict[str, Any] = results[0]
    return result


def child(argv: list[str]) -> None:
    """One measurement in this fresh process: ``KIND NAME EPOCHS THREADS``, KIND one of
    ``profile`` (prints :func:`step_profile`), ``plain`` / ``kanlab`` (``EPOCHS`` epochs of the
    loop) and ``project`` (the protocol's run stopped after ``PROJECT_FROM`` epochs); prints
    the per-epoch (wall, cpu) times and the whole call's wall time as one JSON line."""
    kind, name, epochs, threads = argv[0], argv[1], int(argv[2]), int(argv[3])
    torch.set_num_threads(threads)
    import kanlab  # noqa: F401  (fills the registries)
    from kanlab._malloc import tune_malloc

    tune_malloc()  # as `kanlab train` and `kanlab reproduce` run (kanlab/_malloc.py)
    from kanlab.lit.train import quiet_lightning

    quiet_lightning()
    job = _jobs()[name]
    result: dict[str, Any] = {"epochs": [], "wall": 0.0}
    if kind == "profile":
        step_profile(name, _config(job, 1))
    elif kind == "plain":
        result["epochs"] = plain_epochs(_config(job, epochs))
    elif kind == "kanlab":
        result["epochs"] = kanlab_epochs(_config(job, epochs))[0]
    elif kind == "project":
        times, wall, _ = kanlab_epochs(_config(job, EPOCHS_IN_PROTOCOL), stop_after=PROJECT_FROM)
        result.update(epochs=times, wall=wall)
    else:
        raise SystemExit(f"epoch_overhead child: unknown kind {kind!r}")
    print(_RESULT + json.dumps(result), flush=True)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be >= 1, but got --rounds={args.rounds}")
    torch.set_num_threads(args.threads)  # the children's count, which the bench record names
    print(f"threads {args.threads}, {_load()}", flush=True)
    jobs = _jobs()
    for name in _configs("profile", args.profile, jobs, hint=" (or --profile= for none)"):
        _in_child("profile", name, args)
    ratios = epoch_vs_plain(args, jobs)
    if not args.no_protocol:
        protocol_cost(args, jobs)
    print("\ntargets:")
    for name, ratio in ratios:
        target = TARGETS.get(name, KAN_TARGET)
        mark = "ok" if ratio <= target else "MISSED"
        print(f"  kanlab epoch / plain epoch (cpu), {name}: {ratio:.2f} (<= {target}) {mark}")
    return 0
