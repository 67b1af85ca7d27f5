"""Multi-layer KAN: a stack of any registered linear KAN layer, with optional norm and dropout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from kanlab import capabilities
from kanlab.capabilities import GridUpdatable
from kanlab.checks import check_in_features
from kanlab.models.mlp import check_stack, make_norm
from kanlab.registry import LAYERS, MODELS, LayerSpec

__all__ = ["KANMLP"]


@MODELS.register("kan_mlp")
class KANMLP(nn.Module):
    """Fully connected KAN ``widths[0] -> ... -> widths[-1]`` built from one layer spec.

    Each step is ``layer_l = LAYERS.build(layer, widths[l], widths[l + 1])``; between two KAN
    layers come ``norm`` (over the hidden width) and dropout, so the network is
    ``layer_1 -> norm -> dropout -> layer_2 -> ...``. KAN layers carry their own
    nonlinearities, so there is no activation between them.

    Shapes: ``(B, *dims)`` with ``prod(dims) == widths[0]`` (images are flattened)
    -> ``(B, widths[-1])``.

    The model forwards the layer-specific hooks: ``update_grid(x)`` (propagated layer by
    layer, each layer seeing its own input), ``regularization_loss(...)`` (sum over layers that
    have one), ``to_stage(stage)`` / ``prune()`` / ``stage`` (S-KAN layers) and
    ``no_weight_decay()`` (names collected from the children).

    Args:
        widths: Layer widths, input first; at least two.
        layer: Layer spec (registry name, ``{name: ..., **hparams}`` or class).
        norm: ``none``, ``layer`` or ``batch`` between layers.
        dropout: Dropout probability between layers.

    Raises:
        ValueError: for fewer than two widths, a width < 1, an unknown layer or norm, or
            dropout outside [0, 1).
    """

    def __init__(
        self,
        *,
        widths: Sequence[int] = (784, 64, 10),
        layer: LayerSpec = "b_spline_kan",
        norm: Literal["none", "layer", "batch"] = "none",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        widths = check_stack(widths, norm, dropout)
        self.widths, self.in_features = widths, widths[0]
        self.layers = nn.ModuleList(
            LAYERS.build(layer, w_in, w_out)
            for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.between = nn.ModuleList(
            nn.Sequential(
                *(m for m in (make_norm(norm, w), nn.Dropout(dropout)) if _useful(m))
            )
            for w in widths[1:-1]
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1) if x.dim() > 2 else x                           # (B, C, H, W) -> (B, CHW)
        check_in_features(x, self.in_features)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.between[i - 1](x)
            x = layer(x)
        return x                                                         # (B, widths[-1])

    @torch.no_grad()
    def update_grid(self, x: Tensor, margin: float = 0.01) -> None:
        """Call ``update_grid`` on every grid-updatable layer, each with its own input."""
        was_training = self.training
        self.eval()                                  # no dropout / batch-stat updates here
        try:
            x = x.flatten(1) if x.dim() > 2 else x                       # (B, widths[0])
            for i, layer in enumerate(self.layers):
                if i > 0:
                    x = self.between[i - 1](x)
                if isinstance(layer, GridUpdatable):
                    layer.update_grid(x, margin=margin)
                x = layer(x)
        finally:
            self.train(was_training)

    # The hooks below forward to the layers through kanlab.capabilities.

    def regularization_loss(
        self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
    ) -> Tensor:
        """Sum of the layers' ``regularization_loss`` (layers without one add 0)."""
        return capabilities.regularization_loss(self, regularize_activation, regularize_entropy)

    @property
    def stage(self) -> str | None:
        """The S-KAN stage shared by the staged layers (``None`` if there are none)."""
        return capabilities.stage_of(self)

    def to_stage(self, stage: str) -> None:
        """Move every S-KAN layer to ``stage``; ValueError if no layer supports stages."""
        capabilities.to_stage(self, stage)

    def prune(self) -> None:
        """``to_stage("pruned")`` on every S-KAN layer."""
        self.to_stage("pruned")

    def no_weight_decay(self) -> set[str]:
        """Names (relative to this model) that the children exempt from weight decay."""
        return capabilities.no_weight_decay(self)


def _useful(module: nn.Module) -> bool:
    if isinstance(module, nn.Identity):
        return False
    return not (isinstance(module, nn.Dropout) and module.p == 0.0)
