"""KAN layers as the MLP block of a vision backbone (KAT-style), with timm's ``Mlp`` signature.

``kan_mlp_layer("gr_kan")`` is a class that timm's ViT-family builders take as ``mlp_layer``
(``timm.create_model("vit_tiny_patch16_224", mlp_layer=kan_mlp_layer("gr_kan"))``); the same
class is what :func:`kanlab.interop.swap_mlps` puts in place of a built model's MLP blocks.
Torch only (no timm import): the class just has the constructor timm calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from kanlab.registry import LAYERS

__all__ = ["KANMlp", "kan_mlp_layer", "layer_spec_dict"]

Spec = str | Mapping[str, Any] | Callable[..., nn.Module]


def layer_spec_dict(spec: Spec, **kw: Any) -> dict[str, Any]:
    """``{name: ..., **hparams}`` of a linear layer spec (name, mapping or class), ``kw``
    merged in.

    Raises:
        ValueError: for an unknown layer name (with the closest) or a layer whose registered
            kind is not ``linear``.
    """
    raw: dict[str, Any] = dict(spec) if isinstance(spec, Mapping) else {"name": spec}
    raw.update(kw)
    name = raw.get("name")
    if isinstance(name, str):
        entry = LAYERS.entry(name)                                       # unknown: suggestion
        kind = entry.meta.get("kind", "linear")
        if kind != "linear":
            raise ValueError(
                f"`layer` must be a linear layer (kind 'linear'), but got layer={name!r} "
                f"(kind {kind!r})."
            )
        raw["name"] = entry.name
    return raw


class KANMlp(nn.Module):
    """MLP block ``fc1 -> drop -> norm -> fc2 -> drop`` whose ``fc1`` / ``fc2`` are KAN layers.

    KAT (Yang & Wang, ICLR 2025) replaces a ViT block's ``fc1 -> act -> fc2`` by two KAN
    layers (there: group-rational activation then linear, twice). Here both are
    ``LAYERS.build(layer, ...)`` of the class's ``layer`` spec; ``fc1`` additionally takes the
    entry's ``mlp_fc1_hparams`` metadata (GR-KAN: ``init: identity``, KAT's first rational)
    unless the spec sets those keys itself.

    Shapes: ``(*, in_features) -> (*, out_features)``; with ``use_conv=True`` (timm's 1 x 1
    conv MLPs) ``(B, C, H, W) -> (B, out_features, H, W)``.

    Constructor: timm's ``Mlp`` signature. ``act_layer`` is accepted and not used (a KAN layer
    carries its own nonlinearity); ``bias`` is accepted and not used (each KAN layer has its
    own bias option, set through the spec); ``device`` / ``dtype`` move the built layers.
    """

    layer: ClassVar[dict[str, Any]] = {"name": "gr_kan"}

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Any = None,
        norm_layer: Callable[..., nn.Module] | None = None,
        bias: bool | tuple[bool, bool] = True,
        drop: float | tuple[float, float] = 0.0,
        use_conv: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        drops = drop if isinstance(drop, tuple) else (drop, drop)
        spec = dict(self.layer)
        first = LAYERS.entry(spec["name"]).meta.get("mlp_fc1_hparams", {}) if isinstance(
            spec["name"], str) else {}
        self.use_conv = use_conv
        self.fc1 = LAYERS.build({**first, **spec}, in_features, hidden_features)
        self.drop1 = nn.Dropout(drops[0])
        self.norm = norm_layer(hidden_features) if norm_layer is not None else nn.Identity()
        self.fc2 = LAYERS.build(spec, hidden_features, out_features)
        self.drop2 = nn.Dropout(drops[1])
        if device is not None or dtype is not None:
            self.to(device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.use_conv:
            return self._tokens(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self._tokens(x)

    def _tokens(self, x: Tensor) -> Tensor:
        x = self.drop1(self.fc1(x))                                      # (*, hidden)
        out: Tensor = self.drop2(self.fc2(self.norm(x)))                 # (*, out)
        return out

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}"


def kan_mlp_layer(layer: Spec = "gr_kan", **kw: Any) -> type[KANMlp]:
    """A :class:`KANMlp` subclass building its two layers from ``layer`` (``**kw`` merged into
    the spec: ``kan_mlp_layer("gr_kan", num_groups=4)``), for timm's ``mlp_layer=``.

    Raises:
        ValueError: for an unknown layer name (with the closest) or a non-linear layer kind.
    """
    spec = layer_spec_dict(layer, **kw)
    label = spec["name"] if isinstance(spec["name"], str) else getattr(
        spec["name"], "__name__", "layer")
    name = f"KANMlp_{label}"
    return type(name, (KANMlp,), {"layer": spec, "__module__": __name__, "__qualname__": name,
                                  "__doc__": KANMlp.__doc__})
