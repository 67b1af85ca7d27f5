"""Which accelerator each search worker trains on (``--devices`` / ``--device``).

A *placement* is ``"cpu"`` or a tuple of CUDA indices as the calling process sees them (after
any ``CUDA_VISIBLE_DEVICES`` the user set). ``kanlab search --workers W --devices 0,1,2,3``
gives worker ``i`` the GPU ``devices[i mod len(devices)]`` (:func:`assign`):

* a spawned worker process pins itself with ``CUDA_VISIBLE_DEVICES`` (set before torch
  initialises CUDA; :func:`pin_process`) and trains on its local ``cuda:0..n-1``;
* a worker inside the calling process (worker 0 of ``kanlab search``, ``kanlab worker``) cannot
  change what CUDA sees once it may have started, so it passes the indices to Lightning
  (``trainer.devices="2,"``, i.e. ``cuda:2``).

Default: one worker per visible GPU when there are GPUs, CPU when there are none.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from kanlab.errors import SetupError, UsageError

__all__ = ["CPU", "Placement", "assign", "default_workers", "parse_devices",
           "pin_process", "visible_gpus"]


@dataclass(frozen=True)
class Placement:
    """Where one worker trains: ``cpu`` or CUDA ``indices`` (as the caller numbers them)."""

    indices: tuple[int, ...] = ()
    local: bool = False  # True once CUDA_VISIBLE_DEVICES maps ``indices`` to 0..n-1

    @property
    def is_cpu(self) -> bool:
        return not self.indices

    @property
    def label(self) -> str:
        """``cpu`` or ``cuda:2`` / ``cuda:0,1`` (recorded in trial attrs and run rows)."""
        return "cpu" if self.is_cpu else "cuda:" + ",".join(map(str, self.indices))

    def trainer_settings(self) -> tuple[str, int | str]:
        """Lightning ``(accelerator, devices)`` for this placement (``("gpu", "2,")``...)."""
        if self.is_cpu:
            return "cpu", 1
        ids = range(len(self.indices)) if self.local else self.indices
        return "gpu", ",".join(map(str, ids)) + ","


CPU = Placement()


def visible_gpus() -> int:
    """CUDA devices this process may use (0 when none or no driver).

    torch counts them through NVML when it can, which leaves CUDA uninitialised here.
    """
    import torch

    return int(torch.cuda.device_count())


def parse_devices(text: str, *, available: int, option: str = "--devices") -> list[Placement]:
    """``"cpu"`` or ``"0,1,3"`` -> one placement per listed device (validated).

    Raises:
        UsageError: not ``cpu`` nor a comma list of distinct non-negative integers.
        SetupError: an index beyond the visible GPUs.
    """
    value = text.strip().lower()
    if value == "cpu":
        return [CPU]
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items or not all(item.isdigit() for item in items):
        raise UsageError(
            f"`{option}` must be 'cpu' or comma-separated GPU indices such as 0,1,2,3, "
            f"but got {option.lstrip('-')}={text!r}."
        )
    indices = [int(item) for item in items]
    if len(set(indices)) != len(indices):
        raise UsageError(
            f"`{option}` must list each GPU once, but got {option.lstrip('-')}={text!r}."
        )
    missing = [i for i in indices if i >= available]
    if missing:
        seen = f"GPUs 0..{available - 1}" if available else "no GPU"
        raise SetupError(
            f"`{option}` asks for GPU {missing[0]}, but this machine has {seen} visible "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
            f"pass {option} cpu to train on the CPU."
        )
    return [Placement((i,)) for i in indices]


def assign(workers: int, devices: Sequence[Placement]) -> list[Placement]:
    """Worker ``i`` trains on GPU ``devices[i mod len(devices)]`` (or the CPU).

    One GPU per worker: several GPUs in one trial would need DDP, whose launcher re-runs the
    calling script (a worker started by hand may still take several with ``--device 0,1``).
    More workers than GPUs share them round-robin; GPUs beyond ``workers`` stay idle.
    """
    if workers < 1:
        raise UsageError(f"`--workers` must be >= 1, but got workers={workers}.")
    flat = [i for d in devices for i in d.indices]
    if not flat:
        return [CPU] * workers
    return [Placement((flat[w % len(flat)],)) for w in range(workers)]


def default_workers(
    workers: int | None, devices: str | None, *, cpu_only: bool = False
) -> tuple[int, list[Placement]]:
    """Resolve ``--workers``/``--devices`` (either may be unset) into placements.

    No ``--devices``: the visible GPUs when there are any (and the experiment does not ask
    for ``trainer.accelerator: cpu``, ``cpu_only``), else the CPU. No ``--workers``: one
    worker per listed (or visible) GPU, one CPU worker otherwise.
    """
    if workers is not None and workers < 1:
        raise UsageError(f"`--workers` must be >= 1, but got workers={workers}.")
    if devices is None:
        gpus = 0 if cpu_only else visible_gpus()
        listed = [Placement((i,)) for i in range(gpus)] or [CPU]
    else:
        listed = parse_devices(devices, available=visible_gpus())
    n = workers if workers is not None else (1 if listed[0].is_cpu else len(listed))
    return n, assign(n, listed)


def pin_process(placement: Placement, environ: dict[str, str] | None = None) -> Placement:
    """Pin this (fresh worker) process to ``placement`` through ``CUDA_VISIBLE_DEVICES``.

    Must run before torch initialises CUDA in this process. Returns the placement in the
    process's new numbering (``cuda:0..n-1``). ``CUDA_VISIBLE_DEVICES`` already set by the
    user is respected: index ``i`` means its ``i``-th entry.
    """
    env = os.environ if environ is None else environ
    if placement.is_cpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
        return placement
    parent = env.get("CUDA_VISIBLE_DEVICES")
    names = [d.strip() for d in parent.split(",")] if parent else None
    chosen = [names[i] if names is not None and i < len(names) else str(i)
              for i in placement.indices]
    env["CUDA_VISIBLE_DEVICES"] = ",".join(chosen)
    return Placement(placement.indices, local=True)
