"""Top-k family speed: ``python -m bench topk [--rows N --cols D --k K --repeats R]``.

Times forward + backward (a fixed upstream gradient) of each module against its naive form and
the memory-bound floor (a plain ReLU of the same tensor), all in one run, and prints ms and
ratios. Targets for ``stat_topk`` in its default configuration (threshold detached, sampled
statistics): >= 2x faster than ``torch.topk`` + scatter, <= 1.5x a ReLU, mean kept count within
3 % of k on Gaussian rows. Timings on a shared machine are noisy; compare ratios, not ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from kanlab.layers.sparse._select import normal_quantile
from kanlab.layers.sparse.abs_topk import AbsTopK
from kanlab.layers.sparse.batch_topk import BatchTopK
from kanlab.layers.sparse.stat_topk import StatTopK
from kanlab.layers.sparse.topk import TopK
from kanlab.layers.sparse.topk_moe import TopKMoE

Fn = Callable[[torch.Tensor], torch.Tensor]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _once(fn: Fn, x: torch.Tensor, grad: torch.Tensor) -> float:
    x.grad = None
    _sync(x.device)
    start = time.perf_counter()
    fn(x).backward(grad)  # type: ignore[no-untyped-call]
    _sync(x.device)
    return (time.perf_counter() - start) * 1e3


def round_robin_ms(
    fns: dict[str, Fn], x: torch.Tensor, grad: torch.Tensor, repeats: int
) -> dict[str, list[float]]:
    """ms of ``fn(x).backward(grad)`` per case and round, after one warm-up round.

    The cases are timed round-robin (one call of each per round), so load from other
    processes spreads over all of them instead of skewing whichever ran at a busy moment.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(repeats + 1):
        for name, fn in fns.items():
            elapsed = _once(fn, x, grad)
            if i:
                times[name].append(elapsed)
    return times


def time_fwd_bwd(
    fns: dict[str, Fn], x: torch.Tensor, grad: torch.Tensor, repeats: int
) -> dict[str, float]:
    """Median ms of ``fn(x).backward(grad)`` per case (:func:`round_robin_ms`)."""
    times = round_robin_ms(fns, x, grad, repeats)
    return {name: statistics.median(t) for name, t in times.items()}


def naive_topk_scatter(k: int) -> Fn:
    def fn(x: torch.Tensor) -> torch.Tensor:
        top = x.topk(k, dim=-1)
        return torch.zeros_like(x).scatter(-1, top.indices, top.values)
    return fn


def naive_sort_mask(k: int, key: Callable[[torch.Tensor], torch.Tensor]) -> Fn:
    def fn(x: torch.Tensor) -> torch.Tensor:
        kth = key(x).sort(dim=-1, descending=True).values[..., k - 1 : k]
        return x * (key(x) >= kth)
    return fn


def naive_stat(k: int) -> Fn:
    def fn(x: torch.Tensor) -> torch.Tensor:
        q = normal_quantile(1 - k / x.shape[-1])
        theta = (x.mean(-1, keepdim=True) + x.std(-1, keepdim=True) * q).detach()
        return F.relu(x - theta)
    return fn


def naive_batch_topk(k: int) -> Fn:
    def fn(x: torch.Tensor) -> torch.Tensor:
        r = F.relu(x).flatten()
        kth = r.sort(descending=True).values[k * x.shape[0] - 1]
        return (r * (r >= kth)).view_as(x)
    return fn


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench topk", description=__doc__)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=16384)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--quick", action="store_true", help="1024 x 4096, k = 64")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.cols, args.k = 1024, 4096, 64
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    n, d, k = args.rows, args.cols, args.k
    x = torch.randn(n, d, device=device, requires_grad=True)
    grad = torch.randn(n, d, device=device)
    print(f"top-k family, fwd+bwd, {n} x {d}, k = {k}, {device}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")

    cases: list[tuple[str, str, Fn]] = [
        ("relu (floor)", "-", torch.relu),
        ("torch.topk + scatter", "-", naive_topk_scatter(k)),
        ("stat_topk (default)", "stat naive", StatTopK(k=k)),
        ("stat naive", "-", naive_stat(k)),
        ("stat_topk sampled stats", "stat naive", StatTopK(k=k, num_samples=2048)),
        ("topk", "topk naive", TopK(k=k)),
        ("topk naive", "-", naive_sort_mask(k, lambda t: t)),
        ("abs_topk", "abs naive", AbsTopK(k=k)),
        ("abs naive", "-", naive_sort_mask(k, torch.abs)),
        ("batch_topk", "batch naive", BatchTopK(k=k)),
        ("batch naive", "-", naive_batch_topk(k)),
    ]
    ms = time_fwd_bwd({name: fn for name, _, fn in cases}, x, grad, args.repeats)

    experts, tokens, width = 64, 8192, 512
    moe = TopKMoE(width, width, num_experts=experts, k=2).to(device)
    h = torch.randn(tokens, experts, device=device, requires_grad=True)
    g = torch.randn(tokens, 2, device=device)

    def gate_ours(t: torch.Tensor) -> torch.Tensor:
        return moe.route(t)[1]

    def gate_naive(t: torch.Tensor) -> torch.Tensor:
        probs = t.softmax(-1)                             # softmax over all, then renormalise
        top = probs.topk(2, dim=-1).values
        return top / top.sum(-1, keepdim=True)

    gates: dict[str, Fn] = {"moe gate (top-k softmax)": gate_ours, "moe gate naive": gate_naive}
    ms.update(time_fwd_bwd(gates, h, g, args.repeats))
    cases += [("moe gate (top-k softmax)", "moe gate naive", gate_ours),
              ("moe gate naive", "-", gate_naive)]

    floor, topk_ms = ms["relu (floor)"], ms["torch.topk + scatter"]
    print(f"{'case':<26}{'ms':>10}{'x relu':>9}{'topk/x':>9}{'naive/x':>9}")
    for name, naive, _ in cases:
        vs_naive = f"{ms[naive] / ms[name]:9.2f}" if naive != "-" else f"{'':>9}"
        print(f"{name:<26}{ms[name]:10.1f}{ms[name] / floor:9.2f}{topk_ms / ms[name]:9.2f}"
              f"{vs_naive}")
    print("(moe rows: 8192 tokens x 64 experts, k = 2; their ratios to relu/topk mean nothing)")

    with torch.no_grad():
        kept = (StatTopK(k=k)(x) > 0).sum(-1).float()
    stat = ms["stat_topk (default)"]
    checks = [
        (f"stat_topk vs topk+scatter: {topk_ms / stat:.2f}x faster (target >= 2)",
         topk_ms / stat >= 2),
        (f"stat_topk vs relu: {stat / floor:.2f}x (target <= 1.5)", stat / floor <= 1.5),
        (f"stat_topk mean kept / k: {float(kept.mean()) / k:.3f} (target within 3 %)",
         abs(float(kept.mean()) / k - 1) <= 0.03),
    ]
    for text, ok in checks:
        print(f"[{'ok' if ok else 'MISS'}] {text}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
