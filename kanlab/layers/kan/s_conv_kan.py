"""S-ConvKAN: the S-KAN layer applied to every kernel window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from kanlab.layers.kan._patches import DEFAULT_MEMORY_BUDGET
from kanlab.layers.kan.kan_conv2d import KANConv2d
from kanlab.layers.kan.s_kan import DEFAULT_CANDIDATES, SKANLinear, Stage
from kanlab.registry import LAYERS, LayerSpec

__all__ = ["SConvKAN2d"]


@LAYERS.register("s_conv_kan", kind="conv2d")
class SConvKAN2d(KANConv2d):
    """Convolution whose kernel is an activation-space-selectable KAN layer (S-ConvKAN).

    Yang et al., "Activation Space Selectable Kolmogorov-Arnold Networks", arXiv:2408.08338.

        y[b, :, p] = SKAN( x[b, :, window(p)].flatten() )

    with SKAN = ``SKANLinear(in_channels * kh * kw, out_channels, candidates=candidates,
    temperature=temperature)``: each output channel selects one candidate activation space
    (B-spline, RBF, Chebyshev, wavelet, ReLU bumps by default), softly in the ``full`` stage,
    by argmax in ``selective`` and ``pruned``. Windows follow ``kernel_size``, ``stride``,
    ``padding`` (zeros) and ``dilation`` as ``torch.nn.Conv2d``. Shapes: ``(B, C_in, H, W)``
    -> ``(B, C_out, H', W')``.

    The stage API (``to_stage``, ``prune``, ``stage``, ``selection``, ``candidates``)
    delegates to the inner S-KAN layer; stage and selection live in its buffers, so state dicts
    of any stage reload into a freshly built module.

    Deviations: the selection mechanism is our design (see :class:`SKANLinear`; the paper's
    code is not public). Windows are processed in memory-bounded chunks with recomputation in
    the backward pass (see :class:`KANConv2d`) instead of one unfold of the whole batch, which
    is what runs the unfold-based pool code (SeriYann/KANConv2d) out of memory.
    Differentiable to any order and usable under ``torch.func`` transforms, as its candidates.

    Args:
        in_channels: Input channels C_in.
        out_channels: Output channels C_out (the selecting nodes).
        kernel_size: Window size, an int or ``(kh, kw)``; >= 1.
        stride: Step between windows; >= 1.
        padding: Zero padding on each side; >= 0.
        dilation: Spacing between kernel elements; >= 1.
        candidates: Candidate linear KAN layer specs (see :class:`SKANLinear`).
        temperature: Softmax temperature of the full stage; > 0.
        chunk_size: Windows per inner-layer call (``None``: automatic).
        memory_budget: Bytes of one automatic chunk's basis tensor.
        checkpoint_chunks: Recompute chunks in the backward pass when there are several.
        device: Parameter device.
        dtype: Parameter dtype.

    Raises:
        ValueError: for a kernel size, stride or dilation < 1, negative padding, bad
            candidates or temperature, an unknown or backward stage, or a bad input shape.
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
        candidates: Sequence[LayerSpec] = DEFAULT_CANDIDATES,
        temperature: float = 1.0,
        chunk_size: int | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        checkpoint_chunks: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        spec: dict[str, Any] = {
            "name": SKANLinear,
            "candidates": list(candidates),
            "temperature": temperature,
        }
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            layer=spec,
            stride=stride,
            padding=padding,
            dilation=dilation,
            chunk_size=chunk_size,
            memory_budget=memory_budget,
            checkpoint_chunks=checkpoint_chunks,
            device=device,
            dtype=dtype,
        )

    @property
    def kan(self) -> SKANLinear:
        """The inner S-KAN layer ``(C_in * kh * kw) -> C_out``."""
        inner = self.layers[0]
        assert isinstance(inner, SKANLinear)
        return inner

    @property
    def candidates(self) -> nn.ModuleDict:
        """Candidate layers of the inner S-KAN (name -> layer)."""
        return self.kan.candidates

    @property
    def stage(self) -> str:
        """Current stage: ``full``, ``selective`` or ``pruned``."""
        return self.kan.stage

    def selection(self) -> torch.Tensor:
        """Candidate index chosen by each output channel, ``(out_channels,)``."""
        return self.kan.selection()

    def to_stage(self, stage: Stage) -> None:
        """Move to ``stage``; stages only move forward (full -> selective -> pruned)."""
        self.kan.to_stage(stage)

    def prune(self) -> None:
        """Remove unselected candidates and rows: ``to_stage("pruned")``."""
        self.kan.prune()
