"""KAN convolution: any registered linear KAN layer applied to every kernel window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from kanlab.checks import check_at_least
from kanlab.layers.kan._patches import (
    DEFAULT_MEMORY_BUDGET,
    PatchConv2d,
    n_basis_of,
)
from kanlab.registry import LAYERS, LayerSpec

__all__ = ["KANConv2d"]


@LAYERS.register("kan_conv2d", kind="conv2d")
class KANConv2d(PatchConv2d):
    """2-D convolution whose kernel is a KAN layer over the flattened window.

    The "unfold -> KAN layer" form of convolutional KANs (SeriYann/KANConv2d, the S-ConvKAN
    pool of Yang et al., arXiv:2408.08338; Bodner et al., "Convolutional Kolmogorov-Arnold
    Networks", arXiv:2406.13155, use one KAN per channel pair instead). For output position p
    and group g:

        y[b, g*O_g : (g+1)*O_g, p] = KAN_g( x[b, g*C_g : (g+1)*C_g, window(p)].flatten() )

    where KAN_g = ``LAYERS.build(layer, C_g * kh * kw, O_g)``, C_g = ``in_channels / groups``,
    O_g = ``out_channels / groups``; windows follow ``kernel_size``, ``stride``, ``padding``
    (zeros) and ``dilation`` exactly as ``torch.nn.Conv2d``. Shapes: ``(B, C_in, H, W)`` or
    ``(C_in, H, W)`` -> ``(B, C_out, H', W')`` (resp. unbatched).

    Deviations: windows go through the layer in chunks of at most ``chunk_size`` rows
    (automatic by default: one chunk's basis tensor stays under ``memory_budget`` bytes, 256 MiB,
    the policy of every KAN layer), and during training chunks are recomputed in the
    backward pass when there is more than one, so memory no longer grows with
    ``B * H' * W' * basis`` as in unfold-based code. Differentiable to any order (the
    recomputation too); under ``torch.func`` transforms chunks are not recomputed.
    Inner layers with batch statistics (BatchNorm, batch min-max) then see one chunk as their
    batch, and recomputation updates their running statistics twice; use ``chunk_size`` large
    enough for one chunk, or ``checkpoint_chunks=False``, with such layers.

    Args:
        in_channels: Input channels C_in; divisible by ``groups``.
        out_channels: Output channels C_out; divisible by ``groups``.
        kernel_size: Window size, an int or ``(kh, kw)``; >= 1.
        layer: Linear KAN layer spec (name, ``{name: ..., **hparams}`` or class).
        stride: Step between windows; >= 1.
        padding: Zero padding on each side; >= 0.
        dilation: Spacing between kernel elements; >= 1.
        groups: Channel groups, each with its own KAN layer; >= 1.
        chunk_size: Windows per inner-layer call (``None``: automatic).
        memory_budget: Bytes of one automatic chunk's basis tensor.
        checkpoint_chunks: Recompute chunks in the backward pass when there are several.
        device: Parameter device.
        dtype: Parameter dtype.

    Raises:
        ValueError: for a kernel size, stride or dilation < 1, negative padding, channels not
            divisible by ``groups``, an unknown or non-linear ``layer``, or a bad input shape.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        *,
        layer: LayerSpec = "b_spline_kan",
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        chunk_size: int | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        checkpoint_chunks: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            chunk_size=chunk_size,
            memory_budget=memory_budget,
            checkpoint_chunks=checkpoint_chunks,
        )
        check_at_least("groups", groups, 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"`in_channels` and `out_channels` must be divisible by `groups`, but got "
                f"in_channels={in_channels}, out_channels={out_channels}, groups={groups}."
            )
        name = layer.get("name") if isinstance(layer, Mapping) else layer
        if isinstance(name, str) and LAYERS.entry(name).meta.get("kind", "linear") != "linear":
            raise ValueError(
                f"`layer` must be a linear KAN layer, but got layer={name!r} "
                f"(kind {LAYERS.entry(name).meta.get('kind')!r})."
            )
        self.groups = groups
        self.group_features = self.patch_features // groups
        factory = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        spec = dict(layer) if isinstance(layer, Mapping) else layer
        self.layers = nn.ModuleList(
            LAYERS.build(spec, self.group_features, out_channels // groups, **factory)
            for _ in range(groups)
        )
        self._row_cost: int | None = None

    def patch_map(self, rows: torch.Tensor) -> torch.Tensor:
        if self.groups == 1:
            out: torch.Tensor = self.layers[0](rows)               # (N, O)
            return out
        parts = torch.unflatten(rows, -1, (self.groups, self.group_features))  # (N, g, C_g*kh*kw)
        return torch.cat([f(parts[:, i]) for i, f in enumerate(self.layers)], dim=-1)  # (N, O)

    def row_cost(self, like: torch.Tensor) -> int:
        if self._row_cost is None:
            n_basis = n_basis_of(self.layers[0], self.group_features, like)
            self._row_cost = self.patch_features * n_basis
        return self._row_cost

    def update_grid(self, x: torch.Tensor, margin: float = 0.01) -> None:
        """Update the inner layers' grids from this convolution's input ``x``."""
        rows = torch.unflatten(self.sample_rows(x), -1, (self.groups, self.group_features))
        for i, inner in enumerate(self.layers):
            update = getattr(inner, "update_grid", None)
            if callable(update):
                update(rows[:, i], margin)                          # (N, C_g*kh*kw)

    def regularization_loss(
        self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
    ) -> torch.Tensor:
        """Sum of the inner layers' regularization losses (0 when they have none)."""
        losses = []
        for inner in self.layers:
            loss = getattr(inner, "regularization_loss", None)
            if callable(loss):
                losses.append(loss(regularize_activation, regularize_entropy))
        if losses:
            return torch.stack(losses).sum()
        ref = next(self.parameters(), None)
        return torch.zeros((), device=None if ref is None else ref.device)

    def no_weight_decay(self) -> set[str]:
        """The inner layers' no-decay parameters, prefixed with their path."""
        names: set[str] = set()
        for i, inner in enumerate(self.layers):
            exempt = getattr(inner, "no_weight_decay", None)
            if callable(exempt):
                names |= {f"layers.{i}.{p}" for p in exempt()}
        return names

    def extra_repr(self) -> str:
        extra = f", groups={self.groups}" if self.groups != 1 else ""
        return super().extra_repr() + extra
