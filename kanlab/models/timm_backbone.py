"""Any timm architecture as a kanlab model, with a kanlab activation as ``act_layer``."""

from __future__ import annotations

import torch
from torch import nn

from kanlab.capabilities import NoWeightDecay
from kanlab.registry import MODELS, ActivationSpec

__all__ = ["TimmBackbone"]


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
    ) -> None:
        super().__init__()
        from kanlab.interop.timm import create_backbone

        self.arch = arch
        self.model = create_backbone(
            arch, num_classes=num_classes, in_chans=in_chans, act_layer=act_layer,
            img_size=img_size, pretrained=pretrained, drop_rate=drop_rate,
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
