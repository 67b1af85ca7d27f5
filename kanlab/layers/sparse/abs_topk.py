"""AbsTopK: keep the k entries of largest magnitude, with their signs."""

from __future__ import annotations

import torch

from kanlab.layers.sparse._select import SparsityBudget, keep_values
from kanlab.registry import ACTIVATIONS

__all__ = ["AbsTopK"]


@ACTIVATIONS.register("abs_topk", elementwise=False, example_hparams={"k": 2})
class AbsTopK(SparsityBudget):
    """Keep the k entries of largest |z| in each row with their signs (hard thresholding).

    Zhu, Khalili & Zhu, AbsTopK sparse autoencoders (ICLR 2026), arXiv:2510.00404.

        S = indices of the k largest |z_i| along ``dim``
        y_i = z_i if i in S else 0

    Exactly k non-zeros per row (continuous inputs); odd: AbsTopK(-z) = -AbsTopK(z).
    Shapes: any ``(*)`` -> the same shape. Gradients reach kept entries only. Train and eval
    behave the same.

    Deviations: none in the operator (the paper's SAE has no ReLU; neither does this);
    ``inplace`` is accepted and ignored.

    Args:
        k: Entries kept per row.
        density: Fraction kept per row, in (0, 1].
        sparsity: Fraction zeroed per row, in [0, 1).
        dim: The row dim.
        inplace: Ignored.

    Raises:
        ValueError: if not exactly one of ``k``/``density``/``sparsity`` is valid; at forward
            when ``k`` exceeds the row size.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.num_kept(x.shape[self.dim])
        index = x.abs().topk(k, dim=self.dim, sorted=False).indices  # (*, k) along dim
        return keep_values(x, index, self.dim)
