"""Speed of a KAN ViT (KAT-style): GR-KAN MLP blocks vs dense MLP blocks, and the GR-KAN layer
against the dense floor of its matmul.

Run: ``python -m bench kan_vit [--quick] [--batch=128] [--repeats=20] [--threads=N]``
(``python -m bench`` forwards only ``--flag=value`` arguments, so use the ``=`` form).

* **ViT step**: one training step (forward, backward, AdamW) of the Fashion-MNIST ViT of
  ``experiments/fashion_mnist_kat`` (timm ``vit_tiny_patch16_224`` at 28 x 28, patch 4,
  embed 64, depth 4, 4 heads, mlp_ratio 2) with timm's MLP blocks, and the same ViT with
  ``mlp_layer=kan_mlp_layer("gr_kan")`` (KAT's blocks: rational -> linear, twice). Both have
  the same widths; GR-KAN adds 6 + 4g coefficients per layer (the parameter counts are
  printed).
* **GR-KAN layer**: one forward + backward (input gradient on) of the block's second layer
  (128 -> 64 on B x 50 tokens): ``fused, eager`` (the one-node kernel of
  ``_fused/_rational.py``, ``compile_kernels=False``), the same with ``compile_kernels=True``
  (Inductor; compiled during warm-up; the default ``None`` compiles from 2^21 entries, i.e.
  from batch 82 here, and so in the ViT step at batch 128),
  ``unfused`` (its ``reference_rows`` on autograd) and ``floor`` (``nn.Linear(128, 64)``: the
  matmul any GR-KAN layer must do).

Calls are paired (row, then its baseline, alternately) and the ratio is the median of the
per-pair ratios, so load changes on a shared machine hit both sides. CPU timings are noisy;
ratios from one run are the meaningful numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import kanlab  # noqa: F401  (fills the registries)

VIT = {"img_size": 28, "patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 4,
       "mlp_ratio": 2.0, "in_chans": 1, "num_classes": 10}


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench kan_vit", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repeats, smaller batch")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.repeats, args.warmup = min(args.batch, 32), min(args.repeats, 5), 1
    return args


def _time(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _paired(row: Callable[[], None], base: Callable[[], None], repeats: int,
            warmup: int) -> tuple[float, float, float]:
    """Median seconds of ``row`` and ``base`` and the median per-pair ratio row / base."""
    for _ in range(warmup):
        row()
        base()
    rows, bases, ratios = [], [], []
    for i in range(repeats):
        if i % 2:
            b, r = _time(base), _time(row)
        else:
            r, b = _time(row), _time(base)
        rows.append(r)
        bases.append(b)
        ratios.append(r / b)
    return statistics.median(rows), statistics.median(bases), statistics.median(ratios)


def _vit_step(mlp_layer: object | None, batch: int) -> tuple[Callable[[], None], int]:
    import timm

    torch.manual_seed(0)
    kwargs: dict[str, Any] = dict(VIT)
    if mlp_layer is not None:
        kwargs["mlp_layer"] = mlp_layer
    model = timm.create_model("vit_tiny_patch16_224", **kwargs)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()  # type: ignore[no-untyped-call]
        opt.step()

    return step, sum(p.numel() for p in model.parameters())


def _layer_call(module: Callable[[torch.Tensor], torch.Tensor], params: list[nn.Parameter],
                x: torch.Tensor) -> Callable[[], None]:
    def call() -> None:
        for p in params:
            p.grad = None
        x.grad = None
        module(x).square().mean().backward()  # type: ignore[no-untyped-call]

    return call


def main(argv: list[str]) -> int:
    from kanlab.interop import kan_mlp_layer
    from kanlab.layers.kan.gr_kan import GRKANLinear

    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"threads {torch.get_num_threads()}, batch {args.batch}, repeats {args.repeats}")

    kat, kat_params = _vit_step(kan_mlp_layer("gr_kan"), args.batch)
    vit, vit_params = _vit_step(None, args.batch)
    t_kat, t_vit, ratio = _paired(kat, vit, args.repeats, args.warmup)
    print("model | params | train step (ms) | x MLP ViT")
    print(f"ViT, MLP blocks | {vit_params:,} | {t_vit * 1e3:.1f} | 1.00")
    print(f"ViT, GR-KAN blocks | {kat_params:,} ({kat_params / vit_params - 1:+.2%}) | "
          f"{t_kat * 1e3:.1f} | {ratio:.2f}")

    torch.manual_seed(0)
    hidden, dim, tokens = int(VIT["embed_dim"] * VIT["mlp_ratio"]), int(VIT["embed_dim"]), 50
    layer = GRKANLinear(hidden, dim, compile_kernels=False)
    floor = nn.Linear(hidden, dim)
    x = torch.randn(args.batch * tokens, hidden, requires_grad=True)
    params = list(layer.parameters())
    fused = _layer_call(layer, params, x)
    compiled_layer = GRKANLinear(hidden, dim, compile_kernels=True)
    compiled_layer.load_state_dict(layer.state_dict())
    compiled = _layer_call(compiled_layer, list(compiled_layer.parameters()), x)
    unfused = _layer_call(layer.reference_rows, params, x)
    base = _layer_call(floor, list(floor.parameters()), x)
    print(f"GR-KAN layer {hidden} -> {dim} on {args.batch * tokens} rows | fwd+bwd (ms) | "
          "x floor")
    t_f, t_b, r_f = _paired(fused, base, args.repeats, args.warmup)
    t_u, _, r_u = _paired(unfused, base, args.repeats, args.warmup)
    _, _, r_fu = _paired(fused, unfused, args.repeats, args.warmup)
    t_c, _, r_c = _paired(compiled, base, args.repeats, args.warmup)   # warm-up compiles
    print(f"floor (nn.Linear) | {t_b * 1e3:.2f} | 1.00")
    print(f"fused, eager kernels | {t_f * 1e3:.2f} | {r_f:.2f}")
    print(f"unfused (reference_rows) | {t_u * 1e3:.2f} | {r_u:.2f}")
    print(f"fused, torch.compile'd kernels | {t_c * 1e3:.2f} | {r_c:.2f}")
    print(f"fused eager / unfused: {r_fu:.2f} (paired median)")
    print("(CPU unless run on a GPU machine; shared machines make times noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
