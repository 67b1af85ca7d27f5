"""CRReLU / EAFO speed: ``python -m bench activations [--rows N --cols D --repeats R ...]``.

Times forward + backward (a fixed upstream gradient, the modules in train mode, so EAFO's
running statistics are updated: a reduction over the tensor on every call) of ``crrelu`` and
``eafo`` with the bases relu, softplus, tanh and sigmoid against a plain ``torch.relu`` of the
same tensor, all round-robin in one run (each ratio the median over rounds of a case's time
over the relu call of its round: on a 2-core VM, ratios of medians moved by half from one run
to the next, eafo(tanh) 1.46 then 2.32), and a timm resnet18 training step (forward, backward,
SGD step) with ``act_layer`` = crrelu against the same step with ReLU, alternating (the ratio
is the median of each crrelu step over the relu step before it; a ratio of two medians of five
steps once read 1.33 where reruns read 1.08). Targets: every
activation <= 2x ReLU, the resnet18 crrelu step <= 1.3x the ReLU step. The first call of each
case (``torch.compile`` of the fused kernels for large tensors; Inductor caches them on disk,
so later processes pay less) is reported separately as warm-up. ``--reference`` adds the plain
autograd expressions (what these modules cost before they were fused) for comparison.
Timings on a shared machine are noisy; compare ratios, not ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import timm
import torch
from torch import nn

import kanlab
from bench._timing import paired_ratio
from bench.topk import round_robin_ms
from kanlab.layers.activations.crrelu import crrelu
from kanlab.layers.activations.eafo import EAFO

Fn = Callable[[torch.Tensor], torch.Tensor]
BASES = ("relu", "softplus", "tanh", "sigmoid")


def _warm(fn: Fn, x: torch.Tensor, grad: torch.Tensor) -> float:
    """Seconds of the first forward + backward (compilation included)."""
    start = time.perf_counter()
    fn(x).backward(grad)  # type: ignore[no-untyped-call]
    x.grad = None
    return time.perf_counter() - start


def _cases(reference: bool) -> dict[str, Fn]:
    cases: dict[str, Fn] = {"relu (floor)": torch.relu,
                            "crrelu": kanlab.create_activation("crrelu")}
    for base in BASES:
        cases[f"eafo({base})"] = kanlab.create_activation("eafo", base=base)
    if reference:
        act = kanlab.create_activation("crrelu")
        cases["crrelu unfused"] = lambda x: crrelu(x, act.eps)
        for base in BASES:
            eafo = EAFO(base=base)
            cases[f"eafo({base}) unfused"] = eafo.reference
    return cases


def _resnet_step(act_layer: Callable[..., nn.Module], images: torch.Tensor,
                 labels: torch.Tensor) -> Callable[[], float]:
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=10, act_layer=act_layer).to(images.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> float:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()
        optimizer.step()
        if images.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    return step


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench activations", description=__doc__)
    parser.add_argument("--rows", type=int, default=4096, help="rows of the activation input")
    parser.add_argument("--cols", type=int, default=16384, help="columns of the input")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (median)")
    parser.add_argument("--batch", type=int, default=32, help="resnet18 batch (3 x 64 x 64)")
    parser.add_argument("--steps", type=int, default=10,
                        help="timed resnet18 steps per model (paired rounds)")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--reference", action="store_true",
                        help="also time the unfused autograd expressions")
    parser.add_argument("--quick", action="store_true", help="1024 x 4096, 2 resnet steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.cols, args.steps, args.repeats = 1024, 4096, 2, 3
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols, device=device, requires_grad=True)
    grad = torch.randn(args.rows, args.cols, device=device)
    cases = {name: fn.to(device) if isinstance(fn, nn.Module) else fn
             for name, fn in _cases(args.reference).items()}
    print(f"activations, fwd+bwd (train mode), {args.rows} x {args.cols} float32, {device}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats} round-robin rounds "
          "(x relu: median of each round's ratio to its relu call)")
    warm = {name: _warm(fn, x, grad) for name, fn in cases.items()}
    times = round_robin_ms(cases, x, grad, args.repeats)
    ms = {name: statistics.median(t) for name, t in times.items()}
    # each case against the relu call of its own round, so drift hits both
    ratio = {name: paired_ratio(t, times["relu (floor)"]) for name, t in times.items()}
    print(f"{'case':<26}{'ms':>10}{'x relu':>9}{'warm-up s':>11}")
    for name in cases:
        print(f"{name:<26}{ms[name]:10.1f}{ratio[name]:9.2f}{warm[name]:11.1f}")

    images = torch.randn(args.batch, 3, 64, 64, device=device)
    labels = torch.randint(0, 10, (args.batch,), device=device)
    steps = {"relu": _resnet_step(kanlab.get_activation("relu"), images, labels),
             "crrelu": _resnet_step(kanlab.get_activation("crrelu"), images, labels)}
    warm_steps = {name: step() for name, step in steps.items()}
    step_s: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            step_s[name].append(step())
    step_ms = {name: statistics.median(t) * 1e3 for name, t in step_s.items()}
    # each crrelu step against the relu step just before it, so drift hits both
    step_ratio = paired_ratio(step_s["crrelu"], step_s["relu"])
    print(f"timm resnet18 SGD step, batch {args.batch} x 3 x 64 x 64, median of {args.steps}: "
          f"relu {step_ms['relu']:.0f} ms, crrelu {step_ms['crrelu']:.0f} ms, paired ratio "
          f"{step_ratio:.2f} (warm-up {warm_steps['relu']:.1f} s / {warm_steps['crrelu']:.1f} s)")

    checks = [(f"{name} vs relu: {ratio[name]:.2f}x (target <= 2)", ratio[name] <= 2)
              for name in cases if name != "relu (floor)" and not name.endswith("unfused")]
    checks.append((f"resnet18 step crrelu vs relu: {step_ratio:.2f}x (target <= 1.3)",
                   step_ratio <= 1.3))
    for text, ok in checks:
        print(f"[{'ok' if ok else 'MISS'}] {text}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
