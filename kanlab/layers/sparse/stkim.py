"""STKIM: stochastic top-k instance masking of attention logits (ACMIL), training only."""

from __future__ import annotations

import math

import torch

from kanlab.layers.sparse._select import SparsityBudget
from kanlab.registry import ACTIVATIONS

__all__ = ["STKIM"]


@ACTIVATIONS.register("stkim", elementwise=False, example_hparams={"k": 2, "mask_drop": 0.0})
class STKIM(SparsityBudget):
    """Attention softmax that, in training, masks a random part of its top-k instances.

    Zhang et al., "Attention-Challenging Multiple Instance Learning for Whole Slide Image
    Classification" (ACMIL), arXiv:2311.07125.

        training:  K' = min(k, N) top logits of each row (N = size of ``dim``)
                   M  = floor(K' * p) of them drawn uniformly at random  (p = ``mask_drop``)
                   a_i = -inf for i in M
        y = softmax(a) along ``dim``            (eval: y = softmax(a), nothing masked)

    Each row keeps a distribution (sums to 1); in training exactly floor(K' p) of its top-K'
    instances get weight 0 and their mass moves to the rest. Shapes: any ``(*)`` -> the same
    shape; rows run along ``dim``. The draw uses torch's global RNG, so it is reproducible under
    ``torch.manual_seed``. Gradients are those of the softmax over the unmasked logits.

    Deviations: the reference writes -1e9 and returns the masked logits; this module returns the
    attention weights (exact zeros at masked instances). A k larger than N is clipped to N, as
    the reference does; ``inplace`` is ignored.

    Args:
        k: Size K' of the top set that masking draws from.
        density: K' as a fraction of N, in (0, 1].
        sparsity: 1 - K'/N, in [0, 1).
        mask_drop: Fraction p of the top-K' that is masked, in [0, 1).
        dim: The instance dim.
        inplace: Ignored.

    Raises:
        ValueError: for a bad budget or ``mask_drop`` outside [0, 1).
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        density: float | None = None,
        sparsity: float | None = None,
        mask_drop: float = 0.6,
        dim: int = -1,
        inplace: bool = False,
    ) -> None:
        super().__init__(k=k, density=density, sparsity=sparsity, dim=dim, inplace=inplace)
        if isinstance(mask_drop, bool) or not isinstance(mask_drop, (int, float)) or not (
            0.0 <= mask_drop < 1.0
        ):
            raise ValueError(f"`mask_drop` must be in [0, 1), but got mask_drop={mask_drop!r}.")
        self.mask_drop = float(mask_drop)

    def num_masked(self, n: int) -> int:
        """Instances masked per row of ``n`` in training: floor(K' * p)."""
        top = min(int(self.budget_value), n) if self.budget_kind == "k" else self.num_kept(n)
        return math.floor(top * self.mask_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[self.dim]
        masked = self.num_masked(n) if self.training else 0
        if masked == 0:
            return x.softmax(self.dim)
        rows = x.movedim(self.dim, -1)                                     # (*, N)
        top = min(int(self.budget_value), n) if self.budget_kind == "k" else self.num_kept(n)
        index = rows.detach().topk(top, dim=-1, sorted=False).indices      # (*, K')
        pick = torch.rand(index.shape, device=x.device).argsort(-1)[..., :masked]  # (*, M)
        drop = index.gather(-1, pick)                                      # (*, M)
        mask = torch.zeros_like(rows, dtype=torch.bool).scatter(-1, drop, True)
        y = rows.masked_fill(mask, float("-inf")).softmax(-1)              # (*, N)
        return y.movedim(-1, self.dim)                                     # back to (*)

    def extra_repr(self) -> str:
        return f"{self.budget_repr()}, mask_drop={self.mask_drop:g}"
