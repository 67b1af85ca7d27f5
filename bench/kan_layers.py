"""KAN layer speed: forward+backward time, ratio to the dense-matmul floor, saved memory.

Run: ``python -m bench kan_layers [--batch=1024] [--in=784] [--out=64] [--grid-size=5]
[--spline-order=3] [--repeats=20] [--warmup=3] [--threads=N] [--device=cuda]
[--peers=DIR] [--input-grad] [--formula] [--only=b_spline_kan,floor]`` (``python -m bench``
forwards only ``--flag=value`` arguments, so use the ``=`` form).

What is timed: one forward and backward of a single layer ``in -> out`` on a fixed batch
(``repeats`` calls after ``warmup``; gradients are set to None between calls). Each call of a
row is paired with a call of the floor right after it, so that load changes on a shared
machine hit both: "x floor" is the median of the per-pair ratios (and, next to the fastest
call, the ratio of the fastest calls). The input does not require grad unless
``--input-grad`` (the first layer of a network).

* **floor**: ``nn.Linear(in * (G + K) + in, out)`` on a precomputed input of that width: the
  matmul every B-spline KAN layer with a base branch must do; a KAN layer can only add to it.
* every registered linear kanlab layer (B-spline and ReLU-KAN with G, K; FastKAN with G + K
  centres as All-KAN; the others with their defaults; ``af_kan`` too when registered), and
  the rows ``b_spline_kan`` and ``af_kan`` use their default ``compile_kernels=None``, which
  compiles their fused kernels at this size (compilation happens during warm-up), and the
  ``(eager)`` rows force ``compile_kernels=False`` (what runs without a C++ compiler);
* with ``--formula``, a ``(formula)`` row for every layer with a fused path: the same layer
  running its ``reference_rows`` (the paper's formula on plain autograd), i.e. what the fused
  kernels save;
* ``mlp_equal_params``: ``in -> h -> out`` with ReLU, ``h`` chosen to match b_spline_kan's
  parameter count;
* peers found under ``--peers`` or ``$KANLAB_PEERS`` (absent ones are skipped, with a note):
  ``efficient-kan/src/efficient_kan``, ``fast-kan/fastkan``, ``All-KAN/models/relu_kan.py``
  (GitHub snapshots; All-KAN at 8ed977f) and PyPI ``flashkan`` / ``inkan`` installed with
  ``pip install --no-deps --target DIR/site``.

Memory column: on CUDA the peak of ``torch.cuda.max_memory_allocated`` above the start of the
step; on CPU the bytes of the tensors autograd saves for backward (unique storages, measured
with ``saved_tensors_hooks``), which is what grows with the batch.

Threads: ``torch.set_num_threads(--threads)`` (default: torch's default). On shared machines
timings are noisy; ratios measured in the same run are the meaningful numbers.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench._timing import paired_ratio
from kanlab.registry import LAYERS


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench kan_layers", description=__doc__)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--in", dest="in_features", type=int, default=784)
    p.add_argument("--out", dest="out_features", type=int, default=64)
    p.add_argument("--grid-size", type=int, default=5)
    p.add_argument("--spline-order", type=int, default=3)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--peers", default=os.environ.get("KANLAB_PEERS"))
    p.add_argument("--input-grad", action="store_true")
    p.add_argument("--formula", action="store_true",
                   help="add a (formula) row per fused layer: its reference_rows on autograd")
    p.add_argument("--only", default=None, help="comma-separated row names")
    return p.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def _saved_bytes(counter: list[int]) -> Iterator[None]:
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            counter[0] += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield


def _step(layer: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).sum().backward()

    return step


def _timed(step: Callable[[], None], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - start


def _measure(
    layer: nn.Module,
    x: torch.Tensor,
    floor: nn.Module,
    wide: torch.Tensor,
    repeats: int,
    warmup: int,
) -> tuple[list[float], list[float], float]:
    """Paired fwd+bwd times (layer, floor), interleaved so load drift hits both; memory MiB."""
    device = x.device
    step, floor_step = _step(layer, x), _step(floor, wide)
    for _ in range(warmup):
        step()
        floor_step()
    times, floor_times = [], []
    for _ in range(repeats):
        times.append(_timed(step, device))
        floor_times.append(_timed(floor_step, device))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        mem = torch.cuda.max_memory_allocated(device) - base
    else:
        counter = [0]
        layer.zero_grad(set_to_none=True)
        with _saved_bytes(counter):
            y = layer(x)
        y.sum().backward()
        mem = counter[0]
    return times, floor_times, mem / 2**20


def _kanlab_rows(args: argparse.Namespace) -> dict[str, Callable[[], nn.Module]]:
    g, k = args.grid_size, args.spline_order
    shared: dict[str, dict[str, Any]] = {
        "b_spline_kan": {"grid_size": g, "spline_order": k},
        "relu_kan": {"grid_size": g, "spline_order": k},
        "fast_kan": {"grid_size": g + k},
        "gr_kan": {"num_groups": 8},                                     # KAT's default
    }
    rows: dict[str, Callable[[], nn.Module]] = {}
    for entry in LAYERS.entries():
        if entry.meta.get("kind", "linear") != "linear":
            continue
        hp = {**entry.meta.get("example_hparams", {}), **shared.get(entry.name, {})}
        rows[entry.name] = functools.partial(
            LAYERS.build, entry.name, args.in_features, args.out_features, **hp
        )
    if args.formula:
        for name in [n for n in rows if hasattr(LAYERS.get(n), "reference_rows")]:
            rows[f"{name} (formula)"] = functools.partial(_formula, rows[name])
    for name in ("b_spline_kan", "af_kan"):
        if name in rows:
            hp = {**LAYERS.entry(name).meta.get("example_hparams", {}), **shared.get(name, {})}
            rows[f"{name} (eager)"] = functools.partial(
                LAYERS.build, name, args.in_features, args.out_features, compile_kernels=False,
                **hp,
            )
    return rows


def _formula(make: Callable[[], nn.Module]) -> nn.Module:
    """The layer ``make`` builds, its fused rows swapped for the formula (``reference_rows``)."""
    layer = make()
    layer.forward_rows = layer.reference_rows
    return layer


def _load_file(path: Path) -> Any:
    """A peer module from one file (its package may import what the bench does not need)."""
    spec = importlib.util.spec_from_file_location(f"_peer_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _peer_rows(
    args: argparse.Namespace, notes: list[str]
) -> dict[str, Callable[[], nn.Module]]:
    rows: dict[str, Callable[[], nn.Module]] = {}
    if not args.peers:
        notes.append("peers: none (pass --peers=DIR or set $KANLAB_PEERS)")
        return rows
    root = Path(args.peers)
    g, k, d, o = args.grid_size, args.spline_order, args.in_features, args.out_features
    candidates: list[tuple[str, Path, str, Callable[[Any], nn.Module]]] = [
        ("efficient-kan", root / "efficient-kan" / "src", "efficient_kan",
         lambda m: m.KANLinear(d, o, grid_size=g, spline_order=k)),
        ("fast-kan", root / "fast-kan", "fastkan",
         lambda m: m.FastKANLayer(d, o, num_grids=g + k)),
        ("flashkan", root / "site", "flashkan",
         lambda m: m.KANLayer(d, o, grid_size=g, spline_order=k)),
        ("inkan", root / "site", "inkan",
         lambda m: m.KANLayer(d, o, grid_size=g, spline_order=k)),
        ("All-KAN relu_kan", root / "All-KAN" / "models" / "relu_kan.py", "",
         lambda m: m.ReLUKANLayer(d, g, k, o)),
    ]
    for name, path, module, make in candidates:
        if not path.exists():
            notes.append(f"{name}: skipped, {path} not found")
            continue
        if path.is_dir() and str(path) not in sys.path:
            sys.path.insert(0, str(path))
        try:
            mod = _load_file(path) if path.is_file() else importlib.import_module(module)
        except Exception as err:  # a peer that does not import is reported, not fatal
            notes.append(f"{name}: skipped, import failed ({type(err).__name__}: {err})")
            continue
        rows[name] = functools.partial(make, mod)
    return rows


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    d, o, g, k = args.in_features, args.out_features, args.grid_size, args.spline_order
    x = (torch.rand(args.batch, d, device=device) * 2 - 1).requires_grad_(args.input_grad)
    wide = torch.randn(args.batch, d * (g + k) + d, device=device)
    wide.requires_grad_(args.input_grad)

    notes: list[str] = []
    spline_params = o * d * (g + k + 2)                                  # b_spline_kan default
    hidden = max(1, round((spline_params - o) / (d + o + 1)))
    rows: dict[str, tuple[Callable[[], nn.Module], torch.Tensor]] = {
        "floor": (lambda: nn.Linear(d * (g + k) + d, o), wide),
        "mlp_equal_params": (
            lambda: nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, o)), x
        ),
    }
    rows.update({n: (f, x) for n, f in _kanlab_rows(args).items()})
    rows.update({n: (f, x) for n, f in _peer_rows(args, notes).items()})
    if args.only:
        keep = set(args.only.split(",")) | {"floor"}
        rows = {n: r for n, r in rows.items() if n in keep or n.removesuffix(" (formula)") in keep}

    print(
        f"device={device} threads={torch.get_num_threads()} batch={args.batch} "
        f"{d}->{o} G={g} K={k} input_grad={args.input_grad} repeats={args.repeats}"
    )
    mem_label = "peak MiB" if device.type == "cuda" else "saved MiB"
    print(
        f"{'layer':<22} {'params':>9} {'median ms':>10} {'x floor':>8} "
        f"{'min ms':>8} {'x floor':>8} {mem_label:>10}"
    )
    floor = nn.Linear(d * (g + k) + d, o).to(device)
    status = 0
    for name, (make, inp) in rows.items():
        try:
            layer = make().to(device)
            times, floor_times, mib = _measure(
                layer, inp, floor, wide, args.repeats, args.warmup
            )
        except Exception as err:  # one failing row must not hide the others
            print(f"{name:<22} failed: {type(err).__name__}: {err}")
            status = 1
            continue
        ms, fastest = statistics.median(times) * 1e3, min(times) * 1e3
        ratio = paired_ratio(times, floor_times)
        ratio_min = min(times) / min(floor_times)
        params = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        print(
            f"{name:<22} {params:>9,} {ms:>10.2f} {ratio:>8.2f} {fastest:>8.2f} "
            f"{ratio_min:>8.2f} {mib:>10.1f}",
            flush=True,
        )
    for note in notes:
        print(f"note: {note}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
