"""Stand-in layers with a hand-checkable basis, for tests of layers that wrap other layers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["PowersLinear"]


class PowersLinear(nn.Module):
    """Stand-in KAN layer: powers x^1..x^degree of each input, then a linear map.

    Shapes: ``(*, in_features) -> (*, out_features)``; ``basis(x)`` is ``(*, in_features,
    degree)``. Weights are drawn from the global torch RNG (seed it in the test).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        degree: int = 3,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.degree = in_features, out_features, degree
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.randn(out_features, in_features * degree, **dd) * 0.3)
        self.bias = nn.Parameter(torch.randn(out_features, **dd) * 0.1)

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x**k for k in range(1, self.degree + 1)], dim=-1)  # (*, D, degree)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.basis(x).flatten(-2), self.weight, self.bias)    # (*, O)
