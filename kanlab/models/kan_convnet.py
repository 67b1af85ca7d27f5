"""Small convolutional network with KAN convolutions and/or a KAN classification head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from kanlab import capabilities
from kanlab.capabilities import GridUpdatable
from kanlab.checks import check_at_least, check_choice, check_in_channels
from kanlab.registry import ACTIVATIONS, LAYERS, MODELS, ActivationSpec, LayerSpec

__all__ = ["KANConvNet"]

POOLS = ("max", "avg", "none")
NORMS = ("batch", "instance", "none")
PLAIN_CONV = ("conv", "conv2d")


def _is_plain(spec: LayerSpec | None, plain: tuple[str, ...]) -> bool:
    name = spec.get("name") if isinstance(spec, Mapping) else spec
    return spec is None or (isinstance(name, str) and name in plain)


def _check_kind(spec: LayerSpec, kind: str, arg: str) -> None:
    name = spec.get("name") if isinstance(spec, Mapping) else spec
    if isinstance(name, str):
        found = LAYERS.entry(name).meta.get("kind", "linear")
        if found != kind:
            raise ValueError(
                f"`{arg}` must be a {kind} layer, but got {arg}={name!r} (kind {found!r})."
            )


@MODELS.register("kan_convnet")
class KANConvNet(nn.Module):
    """Conv blocks (KAN or plain convolutions) followed by a KAN or linear classifier.

    Covers the architectures compared by Bodner et al., "Convolutional Kolmogorov-Arnold
    Networks", arXiv:2406.13155: KAN convs + KAN head ("KKAN"), KAN convs + linear head, plain
    convs + KAN head ("Conv & KAN") and the plain CNN; with ``conv_layer="s_conv_kan"`` it is an
    S-ConvKAN network (arXiv:2408.08338). Block i is

        conv_i (kernel_size, "same" padding) -> norm -> [activation if plain] -> 2x2 pool

    and the head sees the flattened last feature map (or its spatial mean with
    ``global_pool``). KAN convolutions are nonlinear, so ``activation`` is applied after plain
    convolutions only. Shapes: ``(B, in_chans, image_size, image_size) -> (B, num_classes)``.

    Stage API (S-KAN layers anywhere inside): ``to_stage``, ``prune``, ``stage``; plus
    ``update_grid(x)`` (propagated block by block from the model input), ``regularization_loss``
    and ``no_weight_decay``, delegated to the children that have them.

    Args:
        in_chans: Input channels.
        num_classes: Output classes.
        image_size: Input height and width (to size the head).
        channels: Output channels of each conv block; at least one.
        kernel_size: Kernel size of every conv (a ``kernel_size`` in the spec wins).
        conv_layer: A registered conv2d layer spec (``kan_conv2d``, ``{name: kan_conv2d,
            layer: fast_kan}``, ``s_conv_kan``, ...) or ``None`` / ``"conv"`` for
            ``torch.nn.Conv2d``.
        head: A registered linear layer spec (``b_spline_kan``, ``{name: fast_kan}``, ...) or
            ``None`` / ``"linear"`` for ``torch.nn.Linear``.
        activation: Activation spec after plain convolutions.
        pool: ``max``, ``avg`` (2x2, stride 2) or ``none``.
        norm: ``batch``, ``instance`` (affine) or ``none`` after each conv.
        global_pool: Average the last feature map over space before the head.
        dropout: Dropout probability before the head.

    Raises:
        ValueError: for no or non-positive channels, a bad pool/norm, dropout outside [0, 1),
            a conv spec that is not conv2d or a head that is not linear, or an image that the
            pools shrink below 1x1.
    """

    def __init__(
        self,
        *,
        in_chans: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        channels: Sequence[int] = (8, 16),
        kernel_size: int = 3,
        conv_layer: LayerSpec | None = "kan_conv2d",
        head: LayerSpec | None = "linear",
        activation: ActivationSpec = "relu",
        pool: Literal["max", "avg", "none"] = "max",
        norm: Literal["batch", "instance", "none"] = "batch",
        global_pool: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels = list(channels)
        if not channels:
            raise ValueError(f"`channels` must list at least 1 width, but got {channels=}.")
        check_at_least("in_chans", in_chans, 1)
        check_at_least("num_classes", num_classes, 1)
        check_at_least("image_size", image_size, 1)
        check_at_least("kernel_size", kernel_size, 1)
        for c in channels:
            check_at_least("channels[i]", c, 1)
        check_choice("pool", pool, POOLS)
        check_choice("norm", norm, NORMS)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), but got dropout={dropout}.")
        if conv_layer is not None and not _is_plain(conv_layer, PLAIN_CONV):
            _check_kind(conv_layer, "conv2d", "conv_layer")
        if head is not None:
            _check_kind(head, "linear", "head")
        size = image_size // 2 ** len(channels) if pool != "none" else image_size
        if size < 1:
            raise ValueError(
                f"`image_size` must be >= {2 ** len(channels)} for {len(channels)} pooled "
                f"blocks, but got image_size={image_size}."
            )
        self.in_chans, self.num_classes, self.image_size = in_chans, num_classes, image_size
        self.global_pool = global_pool
        blocks: list[nn.Module] = []
        for c_in, c_out in zip([in_chans, *channels[:-1]], channels, strict=True):
            blocks.append(self._conv(conv_layer, c_in, c_out, kernel_size, activation, norm))
            if pool != "none":
                blocks.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
        self.features = nn.Sequential(*blocks)
        width = channels[-1] * (1 if global_pool else size * size)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head: nn.Module = LAYERS.build(
            "linear" if head is None else head, width, num_classes
        )

    @staticmethod
    def _conv(
        spec: LayerSpec | None,
        c_in: int,
        c_out: int,
        kernel_size: int,
        activation: ActivationSpec,
        norm: str,
    ) -> nn.Sequential:
        plain = _is_plain(spec, PLAIN_CONV)
        hparams: dict[str, Any] = dict(spec) if isinstance(spec, Mapping) else {"name": spec}
        if plain:
            hparams["name"] = "conv2d"                           # "conv" / None -> nn.Conv2d
        kernel = hparams.pop("kernel_size", kernel_size)
        hparams.setdefault("padding", kernel // 2 if isinstance(kernel, int) else 0)
        conv: nn.Module = LAYERS.build(hparams, c_in, c_out, kernel)
        act: nn.Module | None = ACTIVATIONS.build(activation) if plain else None
        parts = [conv]
        if norm == "batch":
            parts.append(nn.BatchNorm2d(c_out))
        elif norm == "instance":
            parts.append(nn.InstanceNorm2d(c_out, affine=True))
        if act is not None:
            parts.append(act)
        return nn.Sequential(*parts)

    def _flatten(self, h: torch.Tensor) -> torch.Tensor:
        return h.mean(dim=(2, 3)) if self.global_pool else h.flatten(1)  # (B, C') | (B, C'*h*w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_in_channels(x, self.in_chans, unbatched=False)
        h = self.features(x)                                     # (B, C', h, w)
        out: torch.Tensor = self.head(self.dropout(self._flatten(h)))  # (B, num_classes)
        return out

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, margin: float = 0.01) -> None:
        """Update KAN grids block by block, each from its own input on the batch ``x``."""
        h = x
        for block in self.features:
            for module in block.children() if isinstance(block, nn.Sequential) else [block]:
                if isinstance(module, GridUpdatable):
                    module.update_grid(h, margin)
                h = module(h)
        if isinstance(self.head, GridUpdatable):
            self.head.update_grid(self._flatten(h), margin)

    # The hooks below forward to the layers through kanlab.capabilities.

    def regularization_loss(
        self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
    ) -> torch.Tensor:
        """Sum of the children's regularization losses (0 when none has one)."""
        return capabilities.regularization_loss(self, regularize_activation, regularize_entropy)

    @property
    def stage(self) -> str | None:
        """The S-KAN stage shared by the staged layers (``None`` if there are none)."""
        return capabilities.stage_of(self)

    def to_stage(self, stage: Literal["full", "selective", "pruned"]) -> None:
        """Move every S-KAN layer to ``stage``; ValueError if the model has none."""
        capabilities.to_stage(self, stage)

    def prune(self) -> None:
        """``to_stage("pruned")`` on every S-KAN layer."""
        self.to_stage("pruned")

    def no_weight_decay(self) -> set[str]:
        """Names (relative to this model) that the children exempt from weight decay."""
        return capabilities.no_weight_decay(self)
