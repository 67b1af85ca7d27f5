"""Peak memory and time of S-ConvKAN: chunked windows vs one unfold of the whole batch.

``python -m bench s_conv_kan [--quick]``. Each case runs forward + backward in a fresh
subprocess and reports the peak resident set size above the process's size before the
forward (``ru_maxrss``, CPU) and the wall time. "unfold" is the same layer with one chunk and
no recomputation, i.e. what unfold-based peers (SeriYann/KANConv2d) allocate.
"""

from __future__ import annotations

import json
import subprocess
import sys

CASES = [  # (label, batch, in_channels, size, out_channels)
    ("mnist 128x1x28x28 -> 32", 128, 1, 28, 32),
    ("feature map 128x16x14x14 -> 32", 128, 16, 14, 32),
]

def _child(batch: int, chans: int, size: int, out: int, mode: str) -> dict[str, float]:
    import resource
    import time

    import torch

    import kanlab  # noqa: F401
    from kanlab.layers.kan.s_conv_kan import SConvKAN2d

    torch.manual_seed(0)
    torch.set_num_threads(1)
    options = {"chunk_size": 1 << 40, "checkpoint_chunks": False} if mode == "unfold" else {}
    conv = SConvKAN2d(chans, out, 3, **options)  # type: ignore[arg-type]
    x = torch.rand(batch, chans, size, size) * 1.6 - 0.8
    conv(x[:1]).sum().backward()                                   # warm-up, lazy inits
    conv.zero_grad()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * resource.getpagesize() // 1024
    start = time.perf_counter()
    conv(x).square().mean().backward()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "peak_mib": (max(peak, before) - current) / 1024,
        "seconds": elapsed,
        "rows_per_chunk": float(conv.rows_per_chunk(x)),
    }


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        batch, chans, size, out = map(int, argv[1:5])
        print(json.dumps(_child(batch, chans, size, out, argv[5])))
        return 0
    cases = CASES[:1] if "--quick" in argv else CASES
    print("case | mode | peak RSS above baseline (MiB) | fwd+bwd (s) | windows per chunk")
    for label, batch, chans, size, out in cases:
        for mode in ("chunked", "unfold"):
            args = [str(v) for v in (batch, chans, size, out)]
            cmd = [sys.executable, "-m", "bench.s_conv_kan", "--child", *args, mode]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                print(f"{label} | {mode} | failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{label} | {mode} | {r['peak_mib']:.0f} | {r['seconds']:.2f} "
                f"| {int(r['rows_per_chunk'])}"
            )
    print("(CPU, 1 thread, shared machine: times are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
