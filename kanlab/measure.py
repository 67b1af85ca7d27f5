"""Cost measurements of a model: trainable parameters, matmul FLOPs, forward latency.

FLOPs come from ``torch.utils.flop_counter`` (matmuls/convolutions only: elementwise basis work
of KAN layers is not counted), so latency is the honest cost column.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_params", "latency_ms", "matmul_flops", "torch_threads"]


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``), each shared tensor counted once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _batch_size(example_input: torch.Tensor) -> int:
    return int(example_input.shape[0]) if example_input.dim() > 0 else 1


def matmul_flops(model: nn.Module, example_input: torch.Tensor) -> int:
    """Forward FLOPs per sample counted by torch's FLOP counter (2 per multiply-add).

    The model runs once in eval mode without gradients; its mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example_input)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // _batch_size(example_input)


def _synchronize(device: torch.device) -> None:
    if device.type == "cpu":
        return
    accel = getattr(torch, "accelerator", None)
    if accel is not None and hasattr(accel, "synchronize"):
        accel.synchronize(device)


def latency_ms(
    model: nn.Module, example_input: torch.Tensor, *, repeats: int = 20, warmup: int = 3
) -> float:
    """Median wall time in milliseconds of one eval-mode forward pass on ``example_input``.

    Args:
        model: The model (on the device of ``example_input``).
        example_input: One batch; the time is per batch, not per sample.
        repeats: Timed forward passes.
        warmup: Untimed passes first (allocator, kernels, lazy modules).

    Raises:
        ValueError: if ``repeats < 1`` or ``warmup < 0``.
    """
    if repeats < 1:
        raise ValueError(f"`repeats` must be >= 1, but got repeats={repeats}.")
    if warmup < 0:
        raise ValueError(f"`warmup` must be >= 0, but got warmup={warmup}.")
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.no_grad():
            for i in range(warmup + repeats):
                _synchronize(example_input.device)
                start = time.perf_counter()
                model(example_input)
                _synchronize(example_input.device)
                if i >= warmup:
                    times.append((time.perf_counter() - start) * 1e3)
    finally:
        model.train(was_training)
    return float(statistics.median(times))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block at ``n`` torch intra-op threads, then restore the previous count.

    CPU float sums depend on the thread count, so whatever must give the same numbers run
    after run (a verification re-run, a pinned run, a cached fit) fixes it with this.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
