"""Row chunking for layers whose per-input basis tensor can outgrow memory (kan.md §7.1)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

__all__ = ["DEFAULT_BUDGET_BYTES", "apply_in_chunks", "chunk_rows"]

DEFAULT_BUDGET_BYTES = 2**28
"""Largest basis tensor (bytes) built at once when ``chunk_size`` is automatic (256 MiB)."""


def chunk_rows(row_bytes: int, chunk_size: int | None) -> int:
    """Rows per chunk: ``chunk_size`` when given, else as many rows as fit the budget."""
    if chunk_size is not None:
        return chunk_size
    return max(1, DEFAULT_BUDGET_BYTES // max(row_bytes, 1))


def apply_in_chunks(fn: Callable[[Tensor], Tensor], x: Tensor, rows: int) -> Tensor:
    """``fn(x)`` for ``x`` of shape ``(N, D)``, evaluated ``rows`` rows at a time.

    With gradients enabled, each chunk is checkpointed (its basis is recomputed in backward),
    so the peak memory of a training step stays near one chunk's basis too.
    """
    if x.shape[0] <= rows:
        return fn(x)
    parts = []
    for part in torch.split(x, rows):
        if torch.is_grad_enabled():
            out = checkpoint(fn, part, use_reentrant=False)
            assert isinstance(out, Tensor)
            parts.append(out)
        else:
            parts.append(fn(part))
    return torch.cat(parts)                                              # (N, out)
