"""Any timm architecture as a kanlab model, with a kanlab activation as ``act_layer``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from kanlab.capabilities import NoWeightDecay
from kanlab.registry import MODELS, ActivationSpec

__all__ = ["TimmBackbone"]


def _plain(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Config values (frozen mappings, tuples) -> the plain types timm's builders expect."""
    return {str(k): (dict(v) if isinstance(v, Mapping) else v) for k, v in kwargs.items()}


@MODELS.register("timm_backbone", example_hparams={"arch": "resnet18"})
class TimmBackbone(nn.Module):
    """A ``timm.create_model`` network whose activations come from kanlab's registry.

    Shapes: ``(B, in_chans, H, W) -> (B, num_classes)``. timm is imported when the model is
    built (``import kanlab.models`` stays timm-free). ``act_layer`` reaches only the modules
    the architecture builds from it (e.g. ViT: MLP activations; MobileNetV3 keeps its
    ``_nre`` ReLUs and SE gates); use :func:`kanlab.interop.swap_activations` for the rest.

    Args:
        arch: Any name ``timm.list_models()`` knows (``resnet18``, ``vit_tiny_patch16_224``...).
        num_classes: Output classes.
        in_chans: Input channels.
        act_layer: A kanlab activation spec (``crrelu``, ``{name: eafo, base: softplus}``);
            ``None`` keeps the architecture's own.
        img_size: Input size, for architectures that take it (ViTs); ``None`` keeps the default.
        pretrained: Load timm's pretrained weights (needs network or a local cache).
        drop_rate: Classifier dropout.
        model_kwargs: Further keyword arguments of the timm architecture, passed through
            unchanged (ViT: ``patch_size``, ``embed_dim``, ``depth``, ``num_heads``,
            ``mlp_ratio``; ResNet: ``layers``, ``channels``, ``stem_width``), e.g. to size a
            ViT for 28 x 28 inputs.

    Raises:
        ValueError: for an unknown ``arch`` or arguments the architecture does not take.
    """

    def __init__(
        self,
        *,
        arch: str = "resnet18",
        num_classes: int = 10,
        in_chans: int = 3,
        act_layer: ActivationSpec | None = None,
        img_size: int | None = None,
        pretrained: bool = False,
        drop_rate: float = 0.0,
        model_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from kanlab.interop.timm import create_backbone

        self.arch = arch
        self.model = create_backbone(
            arch, num_classes=num_classes, in_chans=in_chans, act_layer=act_layer,
            img_size=img_size, pretrained=pretrained, drop_rate=drop_rate,
            **_plain(model_kwargs or {}),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)                                # (B, num_classes)
        return out

    def no_weight_decay(self) -> set[str]:
        if not isinstance(self.model, NoWeightDecay):
            return set()
        return {f"model.{n}" for n in self.model.no_weight_decay()}

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}"
