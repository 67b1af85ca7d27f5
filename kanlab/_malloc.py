"""Keep large freed blocks in glibc's heap in the processes the kanlab CLI runs.

glibc returns every freed block above its mmap threshold (dynamic, at most 32 MiB) and any heap
top above its trim threshold to the kernel, so each training step that allocates big
activations pays page faults and the kernel's zeroing of fresh pages again: on a 2-core CPU
that was a quarter to a third of the time of a search (``python -m bench search --workers``,
10 trials x 10 epochs of the grid study: 174-195 s / 157 s with 1 / 2 workers before, 128 s /
107 s after). :func:`tune_malloc`
raises both thresholds with ``mallopt``, the in-process form of ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_``; freed memory then stays with the process for reuse.

It runs only at the start of the CLI commands that train (``train``, ``sae``, ``search``,
``worker``, ``reproduce``, ``demo``; never ``list``, ``info`` and the other light commands)
and of spawned search workers (processes kanlab owns), never on ``import kanlab``;
``KANLAB_MALLOC=0`` turns it off, and any ``MALLOC_*`` or ``GLIBC_TUNABLES`` setting of the
user's wins.
"""

from __future__ import annotations

import ctypes
import os
import sys

from kanlab import settings

__all__ = ["tune_malloc", "tuned"]

_tuned = False

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value (HEAP_MAX_SIZE / 2 on 64-bit)
_TRIM_THRESHOLD = 2**31 - 1  # int max: practically never trim the heap top


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True if it did."""
    if sys.platform != "linux" or not settings.malloc_tuning():
        return False
    if any(k.startswith("MALLOC_") for k in os.environ) or "GLIBC_TUNABLES" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): leave the allocator alone
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    global _tuned
    _tuned = bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _tuned


def tuned() -> bool:
    """Whether :func:`tune_malloc` changed this process's allocator."""
    return _tuned
