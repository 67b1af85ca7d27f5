"""Multi-layer perceptron baseline with any registered activation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from kanlab.checks import check_at_least, check_choice, check_in_features
from kanlab.registry import ACTIVATIONS, MODELS, ActivationSpec

__all__ = ["MLP", "check_stack", "make_norm"]

NORMS = ("none", "layer", "batch")


def make_norm(kind: str, features: int) -> nn.Module:
    """``none`` -> Identity, ``layer`` -> LayerNorm, ``batch`` -> BatchNorm over the last dim."""
    check_choice("norm", kind, NORMS)
    if kind == "layer":
        return nn.LayerNorm(features)
    if kind == "batch":
        return _LastDimBatchNorm(features)
    return nn.Identity()


def check_stack(widths: Sequence[int], norm: str, dropout: float) -> list[int]:
    """Validate the arguments shared by the MLP-style models; returns ``widths`` as a list."""
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"`widths` must list at least 2 sizes, but got widths={widths}.")
    for w in widths:
        check_at_least("widths[i]", w, 1)
    check_choice("norm", norm, NORMS)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), but got dropout={dropout}.")
    return widths


class _LastDimBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the last dim of a ``(*, C)`` tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(*lead, x.shape[-1])


@MODELS.register("mlp")
class MLP(nn.Module):
    """Fully connected network ``widths[0] -> ... -> widths[-1]`` with a chosen activation.

    Each layer is ``act(Linear(norm(x)))`` (pre-norm, as All-KAN's MLP), with dropout after
    the activation of every hidden layer. ``norm="layer", bias=False, activation="silu",
    act_last=True`` is All-KAN's MLP baseline (52,512 parameters at 784-64-10).

    Shapes: ``(B, *dims)`` with ``prod(dims) == widths[0]`` (images are flattened)
    -> ``(B, widths[-1])``.

    Args:
        widths: Layer widths, input first; at least two.
        activation: Activation spec (name, ``{name: ..., **hp}`` or class) for every layer.
        activations: One activation spec per activated layer instead (activation
            combinations); excludes ``activation``.
        norm: ``none``, ``layer`` or ``batch``, applied to each layer's input.
        bias: Whether the linear maps have a bias.
        dropout: Dropout probability after hidden activations.
        act_last: Apply the activation after the output layer too.

    Raises:
        ValueError: for fewer than two widths, a non-positive width, a bad norm, dropout
            outside [0, 1), or a wrong number of per-layer activations.
    """

    def __init__(
        self,
        *,
        widths: Sequence[int] = (784, 64, 10),
        activation: ActivationSpec = "relu",
        activations: Sequence[ActivationSpec] | None = None,
        norm: Literal["none", "layer", "batch"] = "none",
        bias: bool = True,
        dropout: float = 0.0,
        act_last: bool = False,
    ) -> None:
        super().__init__()
        widths = check_stack(widths, norm, dropout)
        n_act = len(widths) - 1 if act_last else len(widths) - 2
        acts = self._activation_specs(activation, activations, n_act)
        self.widths = widths
        self.in_features = widths[0]
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(make_norm(norm, w_in))
            layers.append(nn.Linear(w_in, w_out, bias=bias))
            if i < n_act:
                layers.append(ACTIVATIONS.build(acts[i]))
                if dropout and i < len(widths) - 2:
                    layers.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*(m for m in layers if not isinstance(m, nn.Identity)))

    @staticmethod
    def _activation_specs(
        activation: ActivationSpec, activations: Sequence[ActivationSpec] | None, n_act: int
    ) -> list[ActivationSpec]:
        if activations is None:
            return [activation] * n_act
        if len(activations) != n_act:
            raise ValueError(
                f"`activations` must give one spec per activated layer ({n_act}), "
                f"but got {len(activations)}: activations={list(activations)!r}."
            )
        return list(activations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1) if x.dim() > 2 else x                   # (B, C, H, W) -> (B, C*H*W)
        check_in_features(x, self.in_features)
        out: torch.Tensor = self.net(x)                          # (B, widths[-1])
        return out
