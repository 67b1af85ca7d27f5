"""Attention-based multiple-instance pooling with STKIM masking (ACMIL-style)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kanlab.checks import check_at_least, check_in_features
from kanlab.layers.sparse.stkim import STKIM

__all__ = ["AttentionMIL"]


class AttentionMIL(nn.Module):
    """Pool a bag of N instances with B attention branches, masked by STKIM in training.

    Zhang et al., "Attention-Challenging Multiple Instance Learning for Whole Slide Image
    Classification" (ACMIL), arXiv:2311.07125; gated attention after Ilse et al., "Attention-based
    Deep Multiple Instance Learning", arXiv:1802.04712.

        h      = x                                          (N, in_features) per bag
        A      = W_a (tanh(V h) * sigmoid(U h))             (branches, N)  attention logits
        w      = STKIM(A) along N                           (branches, N), rows sum to 1
        pooled = mean_b (w_b @ h)                           (in_features,)
        y      = W_o pooled + b_o                           (out_features,)

    Shapes: ``(*, N, in_features)`` -> ``(*, out_features)``; the attention weights of the
    last call are ``last_attention`` ``(*, branches, N)``.

    Deviations: one shared classifier on the branch-averaged bag feature (ACMIL also trains a
    per-branch classifier with a diversity loss; not included). Not registered as a layer: it
    reduces the instance dim, so it does not fit the ``(*, in) -> (*, out)`` layer contract.

    Args:
        in_features: Instance feature size.
        out_features: Output size (classes).
        hidden: Attention hidden size.
        branches: Number of attention branches.
        k: STKIM top set size K'.
        mask_drop: STKIM masked fraction p of the top set.
        device: Parameter device.
        dtype: Parameter dtype.

    Raises:
        ValueError: for sizes < 1 or bad STKIM arguments; at forward for a wrong feature size.
    """

    last_attention: torch.Tensor | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden: int = 128,
        branches: int = 5,
        k: int = 10,
        mask_drop: float = 0.6,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("hidden", hidden), ("branches", branches)):
            check_at_least(name, value, 1)
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        self.tanh_branch = nn.Linear(in_features, hidden, **dd)
        self.gate_branch = nn.Linear(in_features, hidden, **dd)
        self.attention = nn.Linear(hidden, branches, **dd)
        self.mask = STKIM(k=k, mask_drop=mask_drop, dim=-1)
        self.classifier = nn.Linear(in_features, out_features, **dd)
        self.last_attention = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_in_features(x, self.in_features)
        gated = torch.tanh(self.tanh_branch(x)) * torch.sigmoid(self.gate_branch(x))  # (*, N, h)
        logits = self.attention(gated).transpose(-1, -2)            # (*, branches, N)
        weights = self.mask(logits)                                 # (*, branches, N)
        self.last_attention = weights.detach()
        pooled = (weights @ x).mean(-2)                             # (*, in_features)
        out: torch.Tensor = self.classifier(pooled)                 # (*, out_features)
        return out

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}"
