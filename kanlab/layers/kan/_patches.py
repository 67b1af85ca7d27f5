"""Chunked patch extraction shared by the KAN convolutions (``kan_conv2d``, ``s_conv_kan``).

A KAN convolution applies a KAN layer ``(C_in * kh * kw) -> C_out`` to every kernel window.
Unfold-based implementations materialise all ``B * H' * W'`` windows and then the layer's
basis tensor ``(B * H' * W', C_in * kh * kw, n_basis)`` at once, which is what runs GPUs out of
memory (SeriYann/KANConv2d#1, Convolutional-KANs#28). :class:`PatchConv2d` instead unfolds a
block of images at a time and feeds the layer at most ``chunk_size`` windows per call; during
training each chunk is recomputed in the backward pass (activation checkpointing), so the basis
tensors of only one chunk are alive at any moment.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from kanlab.checks import check_at_least, check_in_channels
from kanlab.layers._compile import exporting
from kanlab.layers.kan._chunks import DEFAULT_BUDGET_BYTES, chunk_rows, recompute_in_backward

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "PatchConv2d",
    "conv_out_size",
    "n_basis_of",
    "pair",
    "top_modules_with",
]

DEFAULT_MEMORY_BUDGET = DEFAULT_BUDGET_BYTES
"""Bytes of one chunk's basis tensor when ``chunk_size`` is automatic (``_chunks.py``)."""

_FALLBACK_BASIS = 16


def pair(name: str, value: int | Sequence[int], low: int) -> tuple[int, int]:
    """An int or a pair of ints, each ``>= low``, as a pair (house-style errors)."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or any(
        isinstance(v, bool) or not isinstance(v, int) or v < low for v in values
    ):
        raise ValueError(
            f"`{name}` must be an int >= {low} or a pair of them, but got {name}={value!r}."
        )
    return int(values[0]), int(values[1])


def conv_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one spatial axis (as ``torch.nn.Conv2d``)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def top_modules_with(module: nn.Module, attr: str) -> Iterator[nn.Module]:
    """Outermost descendants of ``module`` that define ``attr`` (their children are skipped)."""
    for child in module.children():
        if hasattr(child, attr):
            yield child
        else:
            yield from top_modules_with(child, attr)


def n_basis_of(layer: nn.Module, in_features: int, like: torch.Tensor) -> int:
    """Basis functions per input of ``layer`` (summed over S-KAN candidates), probed on 1 row."""
    candidates = getattr(layer, "candidates", None)
    if isinstance(candidates, nn.ModuleDict):
        return sum(n_basis_of(c, in_features, like) for c in candidates.values())
    basis = getattr(layer, "basis", None)
    if basis is None:
        return _FALLBACK_BASIS
    with torch.no_grad():
        probe = like.new_zeros(1, in_features)                    # (1, in)
        return int(basis(probe).shape[-1])


class PatchConv2d(nn.Module):
    """Base of the KAN convolutions: a patch map applied to every window, chunk by chunk.

    Subclasses implement :meth:`patch_map` ``(N, C_in * kh * kw) -> (N, C_out)`` and
    :meth:`row_cost` (basis entries per window).
    Windows are ordered like ``F.unfold``: channel-major, then kernel row, then kernel column.

    Args:
        in_channels: Input channels C_in.
        out_channels: Output channels C_out.
        kernel_size: Window size, an int or ``(kh, kw)``; >= 1.
        stride: Step between windows; >= 1.
        padding: Zero padding on each side; >= 0.
        dilation: Spacing between kernel elements; >= 1.
        chunk_size: Windows per call of the patch map; ``None`` picks it so that one chunk's
            basis tensor stays under ``memory_budget`` bytes (the policy of ``_chunks.py``).
        memory_budget: Byte budget of the automatic ``chunk_size``.
        checkpoint_chunks: When more than one chunk is needed and gradients are on, recompute
            each chunk in the backward pass instead of keeping its intermediates.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        chunk_size: int | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        checkpoint_chunks: bool = True,
    ) -> None:
        super().__init__()
        check_at_least("in_channels", in_channels, 1)
        check_at_least("out_channels", out_channels, 1)
        self.kernel_size = pair("kernel_size", kernel_size, 1)
        self.stride = pair("stride", stride, 1)
        self.padding = pair("padding", padding, 0)
        self.dilation = pair("dilation", dilation, 1)
        if chunk_size is not None:
            check_at_least("chunk_size", chunk_size, 1)
        check_at_least("memory_budget", memory_budget, 1)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.chunk_size = chunk_size
        self.memory_budget = memory_budget
        self.checkpoint_chunks = checkpoint_chunks
        self.patch_features = in_channels * self.kernel_size[0] * self.kernel_size[1]

    def patch_map(self, rows: torch.Tensor) -> torch.Tensor:
        """Map windows ``(N, C_in * kh * kw)`` to outputs ``(N, C_out)``."""
        raise NotImplementedError

    def row_cost(self, like: torch.Tensor) -> int:
        """Basis entries per window of :meth:`patch_map`."""
        raise NotImplementedError

    def rows_per_chunk(self, x: torch.Tensor) -> int:
        """Windows per patch-map call for input ``x`` (``chunk_size`` or the automatic one)."""
        if self.chunk_size is not None:
            return self.chunk_size
        return chunk_rows(self.row_cost(x) * x.element_size(), None, self.memory_budget)

    def unfold(self, x: torch.Tensor) -> torch.Tensor:
        """All windows of ``x`` ``(B, C_in, H, W)`` as rows ``(B * H' * W', C_in * kh * kw)``."""
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        return cols.transpose(1, 2).reshape(-1, self.patch_features)  # (B*L, C*kh*kw)

    def _check_input(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        check_in_channels(x, self.in_channels)
        return (x, False) if x.dim() == 4 else (x.unsqueeze(0), True)

    def _mapped(self, rows: torch.Tensor, many: bool) -> torch.Tensor:
        if many and self.checkpoint_chunks and recompute_in_backward(self):
            out = checkpoint(self.patch_map, rows, use_reentrant=False)
            assert isinstance(out, torch.Tensor)
            return out
        return self.patch_map(rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, unbatched = self._check_input(x)
        b, _, h, w = x.shape
        kh, kw = self.kernel_size
        h_out = conv_out_size(h, kh, self.stride[0], self.padding[0], self.dilation[0])
        w_out = conv_out_size(w, kw, self.stride[1], self.padding[1], self.dilation[1])
        if h_out < 1 or w_out < 1:
            raise ValueError(
                f"`x` must be at least as large as the dilated kernel "
                f"({(kh - 1) * self.dilation[0] + 1}, {(kw - 1) * self.dilation[1] + 1}) after "
                f"padding, but got x.shape={tuple(x.shape)}."
            )
        windows = h_out * w_out
        if exporting():  # one traced call: a loop over the batch would fix its size
            y = self.patch_map(self.unfold(x)).reshape(-1, windows, self.out_channels)
        else:
            y = self._in_chunks(x, windows)                       # (B, L, O)
        y = y.transpose(1, 2).reshape(b, self.out_channels, h_out, w_out)  # (B, O, H', W')
        return y.squeeze(0) if unbatched else y

    def _in_chunks(self, x: torch.Tensor, windows: int) -> torch.Tensor:
        """The windows of ``x`` mapped ``rows_per_chunk`` at a time -> ``(B, L, O)``."""
        chunk = self.rows_per_chunk(x)
        many = x.shape[0] * windows > chunk
        images = max(1, chunk // windows)                         # images unfolded at once
        outs = []
        for start in range(0, x.shape[0], images):
            rows = self.unfold(x[start : start + images])         # (b_blk*L, C*kh*kw)
            ys = [self._mapped(rows[i : i + chunk], many) for i in range(0, rows.shape[0], chunk)]
            y = torch.cat(ys) if len(ys) > 1 else ys[0]           # (b_blk*L, O)
            outs.append(y.reshape(-1, windows, self.out_channels))  # (b_blk, L, O)
        return torch.cat(outs) if len(outs) > 1 else outs[0]      # (B, L, O)

    def sample_rows(self, x: torch.Tensor, max_rows: int = 65536) -> torch.Tensor:
        """Windows of ``x`` for grid updates, subsampled evenly to at most ``max_rows``."""
        x, _ = self._check_input(x)
        rows = self.unfold(x)                                      # (B*L, C*kh*kw)
        step = -(-rows.shape[0] // max_rows)
        return rows[::step]

    def extra_repr(self) -> str:
        parts = [
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}",
            f"stride={self.stride}",
        ]
        if self.padding != (0, 0):
            parts.append(f"padding={self.padding}")
        if self.dilation != (1, 1):
            parts.append(f"dilation={self.dilation}")
        if self.chunk_size is not None:
            parts.append(f"chunk_size={self.chunk_size}")
        return ", ".join(parts)
