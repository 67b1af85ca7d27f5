"""AF-KAN speed: kanlab ``af_kan`` vs All-KAN's ``AF_KANLayer``, a dense floor and an MLP layer.

Forward + backward of one 784 -> 64 layer (G = 5, K = 3, SiLU, quad1, global_attn, LayerNorm)
on a batch of 1024. ``kanlab af_kan`` runs with its defaults (at this size its two kernels are
compiled by ``torch.compile`` during warm-up); the "eager kernels" row is the same layer with
``compile_kernels=False``, what runs where no C++ compiler is available. Before timing, the
peer's parameters are copied into ours and the outputs must agree to 1e-5. Reported per
candidate: median and min time of ``repeats`` interleaved runs, the ratio to the dense floor
(one ``nn.Linear(784 * (G + K) + 784, 64)``), and memory: on CUDA the peak allocated bytes, on
CPU the bytes autograd saves for backward (the part of the peak that grows with the batch).

    python -m bench af_kan [--peers=DIR] [--batch=1024] [--repeats=15] [--threads=N] [--device=cpu]

``--peers`` (or ``$KANLAB_PEERS``) is a directory containing ``All-KAN/`` at commit 8ed977f;
without it the peer is skipped with a message. Timings on a shared CPU are noisy: read the
ratios, which come from runs interleaved in one process.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from kanlab.layers.kan._fused._af_kan import fused_applies
from kanlab.layers.kan.af_kan import AFKANLinear

D, OUT, G, K = 784, 64, 5, 3


def _flag(argv: list[str], name: str, default: str | None) -> str | None:
    for a in argv:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def _load_peer(peers: str | None) -> ModuleType | None:
    if not peers:
        print("peer: skipped (no --peers=DIR and no $KANLAB_PEERS)")
        return None
    path = Path(peers) / "All-KAN" / "models" / "af_kan.py"
    if not path.is_file():
        print(f"peer: skipped ({path} not found)")
        return None
    spec = importlib.util.spec_from_file_location("_peer_allkan_af_kan", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _copy_from_peer(ours: AFKANLinear, peer: Any) -> None:
    with torch.no_grad():
        ours.low.copy_(peer.phase_low)
        ours.high.copy_(peer.phase_high)
        assert ours.temperature is not None and ours.score_weight is not None
        assert ours.score_bias is not None
        ours.temperature.copy_(peer.temperature)
        ours.score_weight.copy_(peer.gk_linear.weight[0])
        ours.score_bias.copy_(peer.gk_linear.bias[0])
        ours.weight.copy_(peer.base_weight)
        ours.norm.load_state_dict(peer.norm.state_dict())


def _call_peer(peer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = peer(x[None])[0]  # All-KAN stacks one copy of the input per method
    return out


def _saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    out.sum().backward()  # type: ignore[no-untyped-call]
    return total


def _memory(fn: Callable[[], torch.Tensor], device: torch.device) -> str:
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn().sum().backward()  # type: ignore[no-untyped-call]
        torch.cuda.synchronize()
        return f"peak {(torch.cuda.max_memory_allocated() - base) / 2**20:7.1f} MiB"
    return f"saved {_saved_bytes(fn) / 2**20:7.1f} MiB"


def _time(cands: dict[str, Callable[[], torch.Tensor]], repeats: int, device: torch.device
          ) -> dict[str, list[float]]:
    def step(fn: Callable[[], torch.Tensor]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn().sum().backward()  # type: ignore[no-untyped-call]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    for fn in cands.values():
        step(fn)
    times: dict[str, list[float]] = {k: [] for k in cands}
    for _ in range(repeats):
        for name, fn in cands.items():
            times[name].append(step(fn))
    return times


def main(argv: list[str]) -> int:
    batch = int(_flag(argv, "batch", "1024") or 1024)
    repeats = int(_flag(argv, "repeats", "15") or 15)
    threads = _flag(argv, "threads", None)
    if threads:
        torch.set_num_threads(int(threads))
    device = torch.device(_flag(argv, "device", "cpu") or "cpu")
    peer_mod = _load_peer(_flag(argv, "peers", os.environ.get("KANLAB_PEERS")))
    torch.manual_seed(0)
    x = torch.rand(batch, D, device=device) * 2 - 1                         # All-KAN's [-1, 1]
    cands: dict[str, Callable[[], torch.Tensor]] = {}

    floor = nn.Linear(D * (G + K) + D, OUT, device=device)
    xf = torch.randn(batch, D * (G + K) + D, device=device)
    cands["floor: Linear(784*(G+K)+784, 64)"] = lambda: floor(xf)
    mlp = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, OUT, bias=False), nn.SiLU()).to(device)
    cands["MLP layer: LN -> Linear -> SiLU"] = lambda: mlp(x)

    for func_norm in ("none", "batch"):
        ours = AFKANLinear(D, OUT, grid_size=G, spline_order=K, func_norm=func_norm, device=device)
        label = f"kanlab af_kan (func_norm={func_norm})"
        if peer_mod is not None:
            peer = peer_mod.AF_KANLayer(D, G, K, OUT, func_norm=func_norm == "batch").to(device)
            _copy_from_peer(ours, peer)
            with torch.no_grad():
                err = (ours(x) - peer(x[None])[0]).abs().max().item()
            print(f"{label}: max |ours - All-KAN| = {err:.2e}")
            if err > 1e-5:
                print("outputs differ from the peer; not timing", file=sys.stderr)
                return 1
            cands[f"All-KAN AF_KANLayer (func_norm={func_norm == 'batch'})"] = partial(
                _call_peer, peer, x
            )
        cands[label] = partial(ours, x)
        if fused_applies(ours):
            eager = AFKANLinear(D, OUT, grid_size=G, spline_order=K, compile_kernels=False,
                                device=device)
            eager.load_state_dict(ours.state_dict())
            cands["kanlab af_kan (func_norm=none, eager kernels)"] = partial(eager, x)

    params = {"kanlab af_kan": sum(p.numel() for p in ours.parameters()),
              "MLP layer": sum(p.numel() for p in mlp.parameters())}
    print(f"device={device} threads={torch.get_num_threads()} batch={batch} "
          f"repeats={repeats}; params {params}")
    times = _time(cands, repeats, device)
    floor_med = statistics.median(next(iter(times.values())))
    peers = {k: statistics.median(v) for k, v in times.items() if k.startswith("All-KAN")}
    print(f"{'candidate':58s} {'median ms':>9s} {'min ms':>7s} {'x floor':>7s}  memory")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:58s} {med * 1e3:9.1f} {min(ts) * 1e3:7.1f} {med / floor_med:7.2f}  "
              f"{_memory(cands[name], device)}")
    mlp_med = statistics.median(times["MLP layer: LN -> Linear -> SiLU"])
    ours_med = statistics.median(times["kanlab af_kan (func_norm=none)"])
    print(f"kanlab af_kan (func_norm=none) vs the MLP layer of equal params: "
          f"{ours_med / mlp_med:.2f}x its time; vs the floor: {ours_med / floor_med:.2f}x")
    for func_norm, peer_key in (("none", "(func_norm=False)"), ("batch", "(func_norm=True)")):
        peer_name = f"All-KAN AF_KANLayer {peer_key}"
        if peer_name not in peers:
            continue
        prefix = f"kanlab af_kan (func_norm={func_norm}"
        for ours_key in (k for k in times if k.startswith(prefix)):
            ratios = [p / o for p, o in zip(times[peer_name], times[ours_key], strict=True)]
            print(f"speed-up over All-KAN: {ours_key[len('kanlab af_kan '):]}: "
                  f"{peers[peer_name] / statistics.median(times[ours_key]):.2f}x (medians), "
                  f"{statistics.median(ratios):.2f}x (median of paired runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
