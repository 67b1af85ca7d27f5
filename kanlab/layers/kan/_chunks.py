"""The one chunking policy of the KAN layers (kan.md §7.1): a chunk's basis within a budget.

Every KAN layer that builds a per-input basis (``KANLinearBase`` subclasses, AF-KAN and S-KAN
included, and the KAN convolutions over their windows) evaluates its rows ``chunk_size`` at a
time, or, when that is ``None``, as many rows as keep one chunk's basis tensor within
:data:`DEFAULT_BUDGET_BYTES` (``memory_budget`` on the convolutions); with gradients on, each
chunk of a multi-chunk call is recomputed in the backward pass (:func:`recompute_in_backward`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from kanlab.layers._compile import exporting

__all__ = ["DEFAULT_BUDGET_BYTES", "apply_in_chunks", "chunk_rows", "recompute_in_backward"]

DEFAULT_BUDGET_BYTES = 2**28
"""Largest basis tensor (bytes) built at once when ``chunk_size`` is automatic (256 MiB)."""


def chunk_rows(
    row_bytes: int, chunk_size: int | None, budget: int = DEFAULT_BUDGET_BYTES
) -> int:
    """Rows per chunk: ``chunk_size`` when given, else as many rows of ``row_bytes`` bytes of
    basis as fit ``budget``."""
    if chunk_size is not None:
        return chunk_size
    return max(1, budget // max(row_bytes, 1))


def recompute_in_backward(module: nn.Module) -> bool:
    """Whether ``module``'s chunks are checkpointed (recomputed in the backward pass).

    Only with gradients on, outside ``torch.func`` transforms (which checkpointing does not
    support), and while ``module`` holds its own parameters: under ``functional_call`` they are
    swapped for plain tensors only for the duration of the call, so a recomputation in the
    backward pass would read the module's own parameters instead and give wrong higher-order
    gradients.
    """
    return (
        torch.is_grad_enabled()
        and not torch._C._are_functorch_transforms_active()
        and all(isinstance(p, nn.Parameter) for p in module.parameters())
    )


def apply_in_chunks(
    fn: Callable[[Tensor], Tensor], x: Tensor, rows: int, module: nn.Module
) -> Tensor:
    """``fn(x)`` for ``x`` of shape ``(N, D)``, evaluated ``rows`` rows at a time.

    With gradients enabled, each chunk is checkpointed (its basis is recomputed in backward),
    so the peak memory of a training step stays near one chunk's basis too (see
    :func:`recompute_in_backward` for when not); ``fn`` reads the parameters of ``module``.
    """
    if exporting() or x.shape[0] <= rows:  # exported graphs take any batch: one call
        return fn(x)
    parts = []
    for part in torch.split(x, rows):
        if recompute_in_backward(module):
            out = checkpoint(fn, part, use_reentrant=False)
            assert isinstance(out, Tensor)
            parts.append(out)
        else:
            parts.append(fn(part))
    return torch.cat(parts)                                              # (N, out)
