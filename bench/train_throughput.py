"""Training throughput at the Fashion-MNIST protocol (784-64-10, batch 64): KAN steps against
their dense floor, kanlab's epoch against a plain loop, and kanlab against All-KAN's loop.

Run: ``python -m bench train_throughput [--batch-sizes=64,1024] [--repeats=30] [--threads=N]
[--device=cpu] [--no-compile] [--skip-epoch] [--peers=DIR] [--profile] [--ablate] [--calls]``
(use the ``=`` form: ``python -m bench`` forwards only flags).

1. **KAN step vs floor model.** For the ``b_spline_kan``, ``fast_kan``, ``af_kan`` and
   ``relu_kan`` models of ``experiments/fashion_mnist/*.yaml``: one plain-loop training step
   (zero_grad, forward, cross-entropy, backward, optimizer step with kanlab's ``adamw`` and
   weight-decay groups) on a fixed batch, against the step of the *floor model*: the same
   widths with each KAN layer replaced by one ``nn.Linear(in * (M + 1), out)`` (M basis
   functions per input: G + K for the B-spline, AF-KAN and ReLU-KAN layers, the G centres for
   FastKAN; + 1 for the base branch) on a
   precomputed input of that width (the hidden activations are repeated M + 1 times). Each
   KAN step is paired with a floor step right after it (so load changes hit both); the ratio
   is the median of the per-pair ratios. Where the first KAN layer's basis depends on
   parameters (FastKAN's LayerNorm, ReLU-KAN's and AF-KAN's trainable phases), the layer needs
   dL/d(features), for a dense layer over them ``grad @ W``, a third GEMM of the floor's
   first-layer size that the floor model, reading a constant input, skips (FastKAN and
   ReLU-KAN run exactly that GEMM); the ``x fl+dz`` column times each such step also
   against the *floor + dz* model (the same floor with its first input taking a gradient),
   interleaved in the same rounds. The goal below is stated against the plain floor; the
   floor + dz column is information (the B-spline basis has no parameters: ``-``). Rows:
   ``eager`` (every layer's ``compile_kernels=False``:
   what a layer runs until its eager work at a shape reaches ``AUTO_MIN_WORK``), ``default``
   (the model as ``kanlab train`` runs it, ``compile_kernels=None``, timed once every layer that
   counts its eager work has spent that budget, ~6,600 steps at batch 64: from then on the
   B-spline, FastKAN, AF-KAN and ReLU-KAN kernels go through ``torch.compile``, the rest of
   the model is eager; a call of ``AUTO_MIN_ENTRIES`` or more compiles from the start),
   ``kernels`` (every layer's ``compile_kernels=True`` from the first call) and ``compiled``
   (``torch.compile(model, dynamic=False)``); the last two at batch <= 256 only. Compilation
   (seconds to tens of seconds per model on CPU) is not timed.
   Target: <= 1.5 at batch 64 in the default row. The floor model is the same in all rows of
   one KAN model; where its step time differs by more than 1.25x between those rows at batch
   64, the machine changed speed during the run, and the targets list says that model's ratios
   are no verdict.
2. **kanlab epoch vs plain loop** (``af_kan`` config, one epoch): ``kanlab.lit.train``'s
   epoch time (Lightning fit epoch: training + validation, metrics, logging, checkpoint) against
   a hand-written loop over the same data module's loaders with the same model, optimizer
   groups and a sample-weighted validation accuracy; the plain epoch runs before and after
   the kanlab one and the mean is used. Target: <= 1.3.
3. **kanlab vs All-KAN** (``--peers DIR`` or ``$KANLAB_PEERS`` holding ``All-KAN``, a snapshot
   of hoangthangta/All-KAN, not edited): its own ``run.py`` trains AF-KAN 784-64-10 (G = K = 3,
   quad1, global_attn, LayerNorm, SiLU, batch 64, AdamW) for one epoch through
   ``bench/_allkan_run.py`` (data pointed at the offline files; its CUDA-only calls made
   no-ops on CPU); its "training time" (training + validation on the 10k test set) and
   accuracy against kanlab's epoch of section 2. Target: kanlab >= 3x faster per epoch.
   run.py imports packages kanlab does not need; install them outside the repo with
   ``pip install --no-deps --target DIR/site scikit-learn joblib threadpoolctl ptflops fvcore
   iopath yacs tabulate termcolor portalocker prettytable wcwidth requests urllib3 idna
   certifi charset-normalizer cloudpickle narwhals numpyencoder``.
4. **Where the batch-64 step goes** (``--profile``): ``torch.profiler`` over the eager KAN step
   and its floor step, self CPU time per step split into matmuls (``mm``, ``addmm``, ``bmm``,
   ``matmul`` kernels), the optimizer step, and everything else (elementwise basis work,
   reductions, copies, autograd bookkeeping), with the top operators of the KAN step.
5. **What is left without the kernels** (``--ablate``, a diagnostic): the batch-64 step /
   floor ratio (kernels compiled; eager with ``--no-compile``) again with every fused kanlab
   kernel (the ``kanlab.layers._compile.Kernel`` calls: basis, its gradient, weight gradients)
   returning the output of its first call at that shape instead of computing it: timing only,
   the numbers it trains are wrong. What remains is the GEMMs, the optimizer, the layers' other
   ops (FastKAN's LayerNorm and the dL/d(features) GEMM it implies; AF-KAN's attention runs
   inside its kernels) and the per-call Python, i.e. the floor no kernel work can go below; the
   difference to the first ratio is what the kernels cost. The profiler is no help there: it
   inflates each small op several-fold on CPU.
6. **Where the kernels' time goes** (``--calls``, a diagnostic): every compiled kernel call of
   the batch-64 step timed where the step makes it, and the same call repeated at once (its
   result dropped): the repeat finds its inputs, the output memory it just freed and its own
   call path (Dynamo's guards, the compiled wrapper) in cache. The gap is what a cold cache
   costs after the GEMMs and the optimizer step, which stream megabytes through it; it is not
   arithmetic, and more threads do not shrink it.

The data must be on disk or extractable offline (Debian ``dataset-fashion-mnist``). Timings on a
shared machine are noisy; the ratios measured in the same run are the meaningful numbers.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from bench._timing import paired_ratio

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments" / "fashion_mnist"
MODELS = ("b_spline_kan", "fast_kan", "af_kan", "relu_kan")
STEP_TARGET, EPOCH_TARGET, PEER_TARGET = 1.5, 1.3, 3.0
FLOOR_SPREAD = 1.25  # max / min of one floor model's step over its rows beyond which it says so


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench train_throughput", description=__doc__)
    p.add_argument("--batch-sizes", default="64,1024")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--skip-epoch", action="store_true")
    p.add_argument("--peers", default=os.environ.get("KANLAB_PEERS"))
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--profile", action="store_true")
    p.add_argument("--ablate", action="store_true")
    p.add_argument("--calls", action="store_true")
    args, _ = p.parse_known_args(argv)  # `python -m bench` passes every module the same flags
    return args


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- 1. step vs floor


class FloorModel(nn.Module):
    """The floor of a KAN MLP: ``nn.Linear(w_in * (M + 1), w_out)`` per layer.

    The first layer reads a precomputed ``(B, widths[0] * (M + 1))`` input; the hidden
    activations are repeated ``M + 1`` times (``(B, w) -> (B, w * (M + 1))``). With
    ``input_grad`` that input is a fresh leaf that takes a gradient, so backward also runs
    ``grad @ W`` for the first layer (the GEMM of a KAN layer whose basis has parameters).
    """

    def __init__(self, widths: Sequence[int], n_basis: int, *, input_grad: bool = False) -> None:
        super().__init__()
        self.copies = n_basis + 1
        self.input_grad = input_grad
        self.layers = nn.ModuleList(
            nn.Linear(w_in * self.copies, w_out)
            for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_grad and torch.is_grad_enabled():
            x = x.detach().requires_grad_()                             # dL/dx: grad @ W
        for i, layer in enumerate(self.layers):
            if i:
                x = x.repeat(1, self.copies)                            # (B, w * (M+1))
            x = layer(x)
        return x


def _n_basis(layer: nn.Module) -> int:
    """M, the basis functions per input of a kanlab KAN layer."""
    for attr in ("num_bases", "grid_size"):
        value = getattr(layer, attr, None)
        if isinstance(value, int):
            return value
    raise TypeError(f"cannot tell the number of basis functions of {type(layer).__name__}")


def _basis_has_parameters(layer: nn.Module, x: torch.Tensor) -> bool:
    """Whether a KAN layer's basis features of ``x`` depend on parameters (then its backward
    needs dL/d(features), the GEMM :class:`FloorModel` adds with ``input_grad``)."""
    basis = getattr(layer, "basis", None)
    if basis is None:
        return False
    with torch.enable_grad():
        return bool(basis(x[:1]).requires_grad)


def _past_eager_budget(model: nn.Module, step: Callable[[], None]) -> None:
    """Run ``step`` until every layer of ``model`` that counts its eager work
    (kanlab.layers._compile) has spent its budget at this shape, so its kernels run compiled
    (once for a model whose layers do not count, e.g. relu_kan)."""
    from kanlab.layers import _compile

    def pending() -> bool:
        return any(work < _compile.AUTO_MIN_WORK for layer in model.modules()
                   for work in _compile._WORK.get(layer, {}).values())

    step()
    steps = 1
    while pending() and steps < 50_000:
        step()
        steps += 1


def _optimizer(model: nn.Module, cfg: Any) -> torch.optim.Optimizer:
    """kanlab's optimizer for ``cfg.optim`` (registry class, weight-decay groups)."""
    from kanlab.lit._system import param_groups
    from kanlab.optim import build_optimizer

    groups = param_groups(model, cfg.optim.weight_decay)
    return build_optimizer(cfg.optim.name, groups, lr=cfg.optim.lr, params=cfg.optim.params)


def _step_fn(
    model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], cfg: Any,
    x: torch.Tensor, y: torch.Tensor,
) -> Callable[[], None]:
    optimizer = _optimizer(model, cfg)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(forward(x), y).backward()  # type: ignore[no-untyped-call]
        optimizer.step()

    return step


def _interleaved(
    fns: Sequence[Callable[[], None]], repeats: int, device: torch.device
) -> list[list[float]]:
    """Seconds of each of ``fns`` per round, the rounds running them one after another."""
    for _ in range(3):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            out.append(time.perf_counter() - start)
    return times


def _kan_and_floor(cfg: Any, batch: int, device: torch.device) -> tuple[
    nn.Module, FloorModel, int, torch.Tensor, torch.Tensor, torch.Tensor
]:
    """The experiment's KAN model, its floor model, M, and a fixed batch for each."""
    from kanlab.lit.train import build_model

    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    widths = list(cfg.model.params["widths"])
    m = _n_basis(model.get_submodule("layers.0"))
    floor = FloorModel(widths, m).to(device)
    x = torch.rand(batch, widths[0], device=device) * 2 - 1
    wide = torch.rand(batch, widths[0] * (m + 1), device=device) * 2 - 1
    y = torch.randint(0, widths[-1], (batch,), device=device)
    return model, floor, m, x, wide, y


def _models_at_64(args: argparse.Namespace, device: torch.device) -> Iterator[
    tuple[str, Any, nn.Module, FloorModel, torch.Tensor, torch.Tensor, torch.Tensor]
]:
    """``(name, cfg, model, floor, x, wide, y)`` at batch 64 for each of ``--models``."""
    from kanlab.config import load_experiment

    for name in [n for n in args.models.split(",") if n]:
        cfg = load_experiment(EXPERIMENTS / f"{name}.yaml")
        model, floor, _, x, wide, y = _kan_and_floor(cfg, 64, device)
        yield name, cfg, model, floor, x, wide, y


def _set_compile_kernels(model: nn.Module, value: bool) -> None:
    """Every kanlab layer's ``compile_kernels`` in ``model``."""
    for module in model.modules():
        if hasattr(module, "compile_kernels"):
            cast(Any, module).compile_kernels = value


def step_vs_floor(
    args: argparse.Namespace, device: torch.device
) -> tuple[list[tuple[str, float]], list[tuple[str, float]], dict[str, list[float]]]:
    """Paired step / floor ratios at batch 64 per ``"model mode"``, step / floor + dz, and
    each model's floor step times (ms) over its batch-64 rows."""
    from kanlab.config import load_experiment

    batches = [int(b) for b in args.batch_sizes.split(",") if b]
    names = [n for n in args.models.split(",") if n]
    print("KAN model step (fwd + bwd + AdamW) vs its floor model "
          "(Linear(in*(M+1), out) per layer), paired medians")
    print(f"{'model':<14} {'batch':>5} {'mode':<9} {'M':>2} {'step ms':>9} {'floor ms':>9} "
          f"{'x floor':>8} {'fl+dz ms':>9} {'x fl+dz':>8}")
    ratios: list[tuple[str, float]] = []
    dz_ratios: list[tuple[str, float]] = []
    floors: dict[str, list[float]] = {}
    for name in names:
        cfg = load_experiment(EXPERIMENTS / f"{name}.yaml")
        for batch in batches:
            modes = ["eager"] + ([] if args.no_compile else ["default"])
            modes += ["kernels", "compiled"] if batch <= 256 and not args.no_compile else []
            for mode in modes:
                model, floor, m, x, wide, y = _kan_and_floor(cfg, batch, device)
                forward: Callable[[torch.Tensor], torch.Tensor] = model
                if mode in ("eager", "kernels"):  # every layer's kernels eager / compiled
                    _set_compile_kernels(model, mode == "kernels")
                elif mode == "compiled":
                    forward = torch.compile(model, dynamic=False)
                steps = [_step_fn(model, forward, cfg, x, y), _step_fn(floor, floor, cfg, wide, y)]
                if _basis_has_parameters(model.get_submodule("layers.0"), x):
                    dz = FloorModel(list(cfg.model.params["widths"]), m, input_grad=True)
                    dz.to(device).load_state_dict(floor.state_dict())
                    steps.append(_step_fn(dz, dz, cfg, wide, y))
                if mode == "default":  # past the eager budgets, as a training run soon is
                    _past_eager_budget(model, steps[0])
                times = _interleaved(steps, args.repeats, device)
                ms = [1e3 * statistics.median(t) for t in times]
                ratio = paired_ratio(times[0], times[1])
                dz_cols = f"{'-':>9} {'-':>8}"
                if len(times) == 3:
                    dz_ratio = paired_ratio(times[0], times[2])
                    dz_cols = f"{ms[2]:9.2f} {dz_ratio:8.2f}"
                    if batch == 64:
                        dz_ratios.append((f"{name} {mode}", dz_ratio))
                print(f"{name:<14} {batch:>5} {mode:<9} {m:>2} {ms[0]:9.2f} {ms[1]:9.2f} "
                      f"{ratio:8.2f} {dz_cols}", flush=True)
                if batch == 64:
                    ratios.append((f"{name} {mode}", ratio))
                    floors.setdefault(name, []).append(ms[1])
    return ratios, dz_ratios, floors


def floor_spread(floors: dict[str, list[float]]) -> list[str]:
    """A line per model whose floor step moved by more than :data:`FLOOR_SPREAD` (max / min)
    between its batch-64 rows: the same floor model timed slower in one row than in another
    is the machine changing speed, and that model's ratios are then no verdict."""
    return [
        f"  floor step of {name} ranged {min(ms):.2f}-{max(ms):.2f} ms over its batch-64 rows "
        f"({max(ms) / min(ms):.2f}x): the machine's speed moved, its ratios are no verdict"
        for name, ms in floors.items() if max(ms) > FLOOR_SPREAD * min(ms)
    ]


# --------------------------------------------------------------------------- 4. profile

_MATMULS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv"}


def _profile(step: Callable[[], None], steps: int) -> tuple[dict[str, float], list[Any]]:
    """Self CPU ms per step by category, and the operator table, over ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile, record_function

    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            with record_function("bench.step"):
                step()
    events = [e for e in prof.key_averages() if e.key != "bench.step"]
    optim = sum(e.self_cpu_time_total for e in events
                if "Optimizer.step" in e.key or "_fused_adamw" in e.key
                or "_foreach" in e.key)
    mm = sum(e.self_cpu_time_total for e in events if e.key in _MATMULS)
    total = sum(e.self_cpu_time_total for e in events)
    wall = next(e.cpu_time_total for e in prof.key_averages() if e.key == "bench.step")
    per = {"wall": wall / steps / 1e3, "matmul": mm / steps / 1e3,
           "optimizer": optim / steps / 1e3, "other": (total - mm - optim) / steps / 1e3}
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)
    return per, top


def profile_steps(args: argparse.Namespace, device: torch.device) -> None:
    steps = max(10, args.repeats)
    print(f"\nwhere the batch-64 eager step goes (torch.profiler, {steps} steps, self CPU ms "
          "per step; 'other' = elementwise basis work, reductions, copies, autograd)")
    print(f"{'model':<20} {'wall':>7} {'matmul':>7} {'optim':>7} {'other':>7}")
    for name, cfg, model, floor, x, wide, y in _models_at_64(args, device):
        tops = {}
        for label, step in ((name, _step_fn(model, model, cfg, x, y)),
                            (f"{name} floor", _step_fn(floor, floor, cfg, wide, y))):
            per, top = _profile(step, steps)
            tops[label] = top
            print(f"{label:<20} {per['wall']:7.2f} {per['matmul']:7.2f} {per['optimizer']:7.2f} "
                  f"{per['other']:7.2f}", flush=True)
        print(f"  top operators of the {name} step (self CPU ms per step, calls per step):")
        for e in tops[name][:10]:
            print(f"    {e.key:<44} {e.self_cpu_time_total / steps / 1e3:7.3f} "
                  f"{e.count / steps:6.1f}")


# --------------------------------------------------------------------------- 5. ablation


def _first_outputs(call: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for :meth:`Kernel.__call__`: each kernel's output of its first call at a
    given set of input shapes and options, returned again without computing (timing only)."""
    outputs: dict[Any, Any] = {}

    def first(kernel: Any, *tensors: Any, compiled: bool, **static: Any) -> Any:
        key = (id(kernel), compiled, tuple(sorted(static.items())),
               tuple(tuple(t.shape) for t in tensors if isinstance(t, torch.Tensor)))
        if key not in outputs:
            outputs[key] = call(kernel, *tensors, compiled=compiled, **static)
        return outputs[key]

    return first


@contextmanager
def _kernels_replaced(
    stand_in: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> Iterator[None]:
    """Every kanlab kernel call goes through ``stand_in(Kernel.__call__)`` inside the block."""
    from kanlab.layers._compile import Kernel

    call = Kernel.__call__
    Kernel.__call__ = stand_in(call)  # type: ignore[method-assign]
    try:
        yield
    finally:
        Kernel.__call__ = call  # type: ignore[method-assign]


def ablate_kernels(args: argparse.Namespace, device: torch.device) -> None:
    mode = "eager" if args.no_compile else "compiled"
    print(f"\nbatch-64 step / floor with the fused kernels ({mode}) computing, and with each "
          "returning its first output again (timing only; paired medians)")
    print(f"{'model':<14} {'kernels':>8} {'no kernels':>11} {'kernel share':>13}")
    for name, cfg, model, floor, x, wide, y in _models_at_64(args, device):
        _set_compile_kernels(model, not args.no_compile)
        steps = [_step_fn(model, model, cfg, x, y), _step_fn(floor, floor, cfg, wide, y)]
        real = paired_ratio(*_interleaved(steps, args.repeats, device))
        with _kernels_replaced(_first_outputs):
            free = paired_ratio(*_interleaved(steps, args.repeats, device))
        print(f"{name:<14} {real:8.2f} {free:11.2f} {real - free:13.2f}", flush=True)


# --------------------------------------------------------------------------- 6. kernel calls


def _timed_calls(call: Callable[..., Any], times: dict[tuple[str, tuple[int, ...]],
                 list[tuple[float, float]]]) -> Callable[..., Any]:
    """A stand-in for :meth:`Kernel.__call__` that times each call and the same call repeated
    at once (its result dropped), per kernel and first-input shape, into ``times``."""
    def timed(kernel: Any, *tensors: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = call(kernel, *tensors, **kwargs)
        middle = time.perf_counter()
        call(kernel, *tensors, **kwargs)
        key = (kernel.fn.__name__, tuple(tensors[0].shape))
        times.setdefault(key, []).append((middle - start, time.perf_counter() - middle))
        return out

    return timed


def kernel_calls(args: argparse.Namespace, device: torch.device) -> None:
    print("\nkernel calls of the batch-64 step (compiled kernels): median us of each call where "
          "the step makes it, and of the same call repeated at once (inputs, freed output memory "
          "and call path still in cache); the gap is the cold cache the step's GEMMs and "
          "optimizer leave, not arithmetic")
    print(f"{'model':<14} {'kernel':<20} {'input':>10} {'in step':>8} {'repeated':>9}")
    for name, cfg, model, _, x, _, y in _models_at_64(args, device):
        _set_compile_kernels(model, True)
        step = _step_fn(model, model, cfg, x, y)
        for _ in range(5):
            step()
        times: dict[tuple[str, tuple[int, ...]], list[tuple[float, float]]] = {}
        with _kernels_replaced(functools.partial(_timed_calls, times=times)):
            for _ in range(args.repeats):
                step()
        total = [0.0, 0.0]
        for (kernel, shape), pairs in times.items():
            first = statistics.median(p[0] for p in pairs) * 1e6
            again = statistics.median(p[1] for p in pairs) * 1e6
            total[0] += first * len(pairs) / args.repeats
            total[1] += again * len(pairs) / args.repeats
            print(f"{name:<14} {kernel:<20} {'x'.join(map(str, shape)):>10} {first:8.0f} "
                  f"{again:9.0f}", flush=True)
        print(f"{name:<14} {'per step':<20} {'':>10} {total[0]:8.0f} {total[1]:9.0f}")


# --------------------------------------------------------------------------- 2. epoch


def _plain_epoch(cfg: Any, device: torch.device) -> tuple[float, float]:
    """One hand-written epoch (train loader + validation pass): seconds, val accuracy."""
    from kanlab.lit.train import build_datamodule, build_model

    torch.manual_seed(cfg.seed)
    dm: Any = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    model = build_model(cfg).to(device)
    optimizer = _optimizer(model, cfg)
    start = time.perf_counter()
    model.train()
    for x, y in dm.train_dataloader():
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in dm.val_dataloader():
            x, y = x.to(device), y.to(device)
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    _sync(device)
    return time.perf_counter() - start, correct / max(total, 1)


def _kanlab_epoch(cfg: Any) -> tuple[float, float, float, float]:
    """``kanlab.lit.train`` for one epoch: fit-epoch s, whole call s, val acc, test acc."""
    from kanlab.lit.train import train

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(cfg, results_dir=Path(tmp), record=False, progress_bar=False)
        wall = time.perf_counter() - start
    m = result.metrics
    return m.get("epoch_time_s", math.nan), wall, m.get("val/acc", math.nan), \
        m.get("test/acc", math.nan)


def epoch_vs_plain(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    from kanlab.config import load_experiment

    cfg = load_experiment(
        EXPERIMENTS / "af_kan.yaml",
        overrides=[
            "trainer.max_epochs=1", "trainer.test_every_epoch=false",
            "trainer.progress_bar=false",
            f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
        ],
    )
    plain_before, plain_acc = _plain_epoch(cfg, device)
    epoch, wall, val_acc, test_acc = _kanlab_epoch(cfg)
    plain_after, _ = _plain_epoch(cfg, device)
    plain = (plain_before + plain_after) / 2
    batch = cfg.data.params["batch_size"]
    print(f"\nkanlab epoch vs plain torch loop, af_kan 784-64-10, batch {batch}, "
          "55,000 train + 5,000 val images")
    print(f"  plain loop epoch (train + val)      {plain:7.2f} s  "
          f"(before {plain_before:.2f}, after {plain_after:.2f}; val acc {plain_acc:.4f})")
    print(f"  kanlab fit epoch (Lightning)        {epoch:7.2f} s  (val acc {val_acc:.4f})")
    print(f"  kanlab train() whole call           {wall:7.2f} s  "
          f"(+ best-checkpoint test, cost columns; test acc {test_acc:.4f})")
    print(f"  kanlab epoch / plain epoch: {epoch / plain:.2f}x (target <= {EPOCH_TARGET})")
    return {"epoch": epoch, "ratio": epoch / plain, "val_acc": val_acc, "test_acc": test_acc}


# --------------------------------------------------------------------------- 3. All-KAN


def _allkan_epoch(peer: Path, data_dir: Path) -> tuple[float, float] | None:
    """All-KAN's run.py, AF-KAN, one epoch: (training time s, accuracy on its val = test)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, str(Path(__file__).with_name("_allkan_run.py")),
            str(peer), tmp, str(data_dir),
            "--mode", "train", "--model_name", "af_kan", "--epochs", "1", "--batch_size", "64",
            "--layers", "784,64,10", "--grid_size", "3", "--spline_order", "3",
            "--ds_name", "fashion_mnist", "--note", "full", "--n_part", "0",
            "--base_activation", "silu", "--norm_type", "layer", "--methods", "global_attn",
            "--func", "quad1", "--device", "cpu",
        ]
        env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
            print(f"  All-KAN run.py failed: {tail[0] if tail else proc.returncode}")
            return None
        history = next(Path(tmp, "output").rglob("*.json"))
        rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    seconds = next(r["training time"] for r in rows if "training time" in r)
    accuracy = next(r["val_accuracy"] for r in rows if "val_accuracy" in r)
    return float(seconds), float(accuracy)


def versus_allkan(args: argparse.Namespace, kanlab: dict[str, float]) -> float | None:
    peer = Path(args.peers) / "All-KAN" if args.peers else None
    print("\nkanlab vs All-KAN run.py, AF-KAN 784-64-10 (G=K=3, quad1, global_attn, LayerNorm, "
          "SiLU), batch 64, one epoch")
    if peer is None or not (peer / "run.py").is_file():
        print(f"  All-KAN not found (--peers DIR with DIR/All-KAN/run.py; got {args.peers!r}); "
              "skipped")
        return None
    from kanlab.data._base import default_data_dir

    found = _allkan_epoch(peer, default_data_dir())
    if found is None:
        return None
    seconds, accuracy = found
    speedup = seconds / kanlab["epoch"]
    print(f"  All-KAN run.py epoch (60,000 train; val = the 10k test set, mean of batch means) "
          f"{seconds:7.2f} s, acc {accuracy:.4f}")
    print(f"  kanlab train epoch   (55,000 train; val 5,000 carved from train)             "
          f"{kanlab['epoch']:7.2f} s, val acc {kanlab['val_acc']:.4f}, "
          f"test acc {kanlab['test_acc']:.4f}")
    per_image = speedup * 55_000 / 60_000
    print(f"  kanlab speed-up per epoch: {speedup:.2f}x ({per_image:.2f}x per training image) "
          f"(target >= {PEER_TARGET})")
    return speedup


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from kanlab._malloc import tune_malloc
    from kanlab.lit.train import quiet_lightning

    quiet_lightning()
    malloc = tune_malloc()  # as `kanlab train` runs (kanlab/_malloc.py); KANLAB_MALLOC=0: off
    device = torch.device(args.device)
    print(f"threads {torch.get_num_threads()}, device {device}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, glibc malloc "
          f"{'tuned as by the kanlab CLI' if malloc else 'untuned'}")
    step_ratios, dz_ratios, floors = step_vs_floor(args, device)
    if args.profile:
        profile_steps(args, device)
    if args.ablate:
        ablate_kernels(args, device)
    if args.calls:
        kernel_calls(args, device)
    epoch: dict[str, float] | None = None
    speedup = None
    if not args.skip_epoch:
        epoch = epoch_vs_plain(args, device)
        speedup = versus_allkan(args, epoch)
    print("\ntargets:")
    for label, ratio in step_ratios:
        mark = "ok" if ratio <= STEP_TARGET else "MISSED"
        print(f"  batch-64 step / floor, {label}: {ratio:.2f} (<= {STEP_TARGET}) {mark}")
    for label, ratio in dz_ratios:
        print(f"  (information) batch-64 step / floor + dz, {label}: {ratio:.2f}")
    for line in floor_spread(floors):
        print(line)
    if epoch is not None:
        mark = "ok" if epoch["ratio"] <= EPOCH_TARGET else "MISSED"
        print(f"  kanlab epoch / plain epoch: {epoch['ratio']:.2f} (<= {EPOCH_TARGET}) {mark}")
    if speedup is not None:
        mark = "ok" if speedup >= PEER_TARGET else "MISSED"
        print(f"  kanlab vs All-KAN epoch: {speedup:.2f}x (>= {PEER_TARGET}) {mark}")
    return 0
