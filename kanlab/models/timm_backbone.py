"""Any timm architecture as a kanlab model: kanlab activations, KAN MLP blocks, KAN convs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from kanlab.capabilities import NoWeightDecay
from kanlab.registry import MODELS, ActivationSpec, LayerSpec

__all__ = ["TimmBackbone"]


def _plain(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Config values (frozen mappings, tuples) -> the plain types timm's builders expect."""
    return {str(k): (dict(v) if isinstance(v, Mapping) else v) for k, v in kwargs.items()}


def _plain_spec(spec: Any) -> Any:
    """A config layer spec (frozen mapping) as a plain dict; names and classes unchanged."""
    return _plain(spec) if isinstance(spec, Mapping) else spec


@MODELS.register("timm_backbone", example_hparams={"arch": "resnet18"})
class TimmBackbone(nn.Module):
    """A ``timm.create_model`` network with kanlab activations, KAN MLP blocks or KAN convs.

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
        mlp_layer: A linear KAN layer spec (``gr_kan``, ``{name: fast_kan, grid_size: 4}``):
            every timm ``Mlp`` block becomes a KAN block of two such layers (KAT-style;
            :func:`kanlab.interop.swap_mlps`); ``None`` keeps the MLPs.
        conv_layer: A KAN conv layer spec (``kan_conv2d``, ``s_conv_kan``): every
            ``nn.Conv2d`` whose geometry it can reproduce is replaced
            (:func:`kanlab.interop.swap_convs`); ``None`` keeps the convolutions.
        model_kwargs: Further keyword arguments of the timm architecture, passed through
            unchanged (ViT: ``patch_size``, ``embed_dim``, ``depth``, ``num_heads``,
            ``mlp_ratio``; ResNet: ``layers``, ``channels``, ``stem_width``), e.g. to size a
            ViT for 28 x 28 inputs.

    Raises:
        ValueError: for an unknown ``arch`` or arguments the architecture does not take, or
            an ``mlp_layer`` / ``conv_layer`` the architecture has nothing to replace with.
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
        mlp_layer: LayerSpec | None = None,
        conv_layer: LayerSpec | None = None,
    ) -> None:
        super().__init__()
        from kanlab.interop.timm import create_backbone

        self.arch = arch
        self.model = create_backbone(
            arch, num_classes=num_classes, in_chans=in_chans, act_layer=act_layer,
            img_size=img_size, pretrained=pretrained, drop_rate=drop_rate,
            **_plain(model_kwargs or {}),
        )
        from kanlab.interop.swap import swap_convs, swap_mlps

        if mlp_layer is not None:
            swap_mlps(self.model, _plain_spec(mlp_layer))
        if conv_layer is not None:
            swap_convs(self.model, _plain_spec(conv_layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)                                # (B, num_classes)
        return out

    def no_weight_decay(self) -> set[str]:
        if not isinstance(self.model, NoWeightDecay):
            return set()
        return {f"model.{n}" for n in self.model.no_weight_decay()}

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}"
