"""TopK: keep the k largest entries of each row, zero the rest."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from kanlab.layers.sparse._select import SparsityBudget, keep_values
from kanlab.registry import ACTIVATIONS

__all__ = ["TopK"]


@ACTIVATIONS.register("topk", elementwise=False, example_hparams={"k": 2})
class TopK(SparsityBudget):
    """Keep the k largest entries of each row (optionally followed by a ReLU), zero the rest.

    Makhzani & Frey, "k-Sparse Autoencoders", arXiv:1312.5663; Gao et al., "Scaling and
    evaluating sparse autoencoders", arXiv:2406.04093 (the ReLU-after form).

        S = indices of the k largest z_i along ``dim``
        y_i = z_i if i in S else 0                       (relu=False: exactly k non-zeros)
        y_i = max(z_i, 0) if i in S else 0               (relu=True: at most k non-zeros)

    with k = ``k`` (or ``round(density * d)``, ``round((1 - sparsity) * d)``, at least 1).
    Shapes: any ``(*)`` -> the same shape; rows run along ``dim``. Gradients reach kept entries
    only (dy_i/dz_j = 1[i = j, i in S]); no straight-through estimator. Train and eval behave
    the same.

    Deviations: ties are broken by ``torch.topk`` (unspecified index, may differ between CPU
    and CUDA); ``inplace`` is accepted and ignored.

    Args:
        k: Entries kept per row.
        density: Fraction kept per row, in (0, 1].
        sparsity: Fraction zeroed per row, in [0, 1).
        relu: Apply a ReLU to the kept values (OpenAI TopK SAE).
        dim: The row dim.
        inplace: Ignored.

    Raises:
        ValueError: if not exactly one of ``k``/``density``/``sparsity`` is valid; at forward
            when ``k`` exceeds the row size.
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        density: float | None = None,
        sparsity: float | None = None,
        relu: bool = False,
        dim: int = -1,
        inplace: bool = False,
    ) -> None:
        super().__init__(k=k, density=density, sparsity=sparsity, dim=dim, inplace=inplace)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.num_kept(x.shape[self.dim])
        index = x.topk(k, dim=self.dim, sorted=False).indices  # (*, k) along dim
        y = keep_values(x, index, self.dim)
        return F.relu(y) if self.relu else y

    def extra_repr(self) -> str:
        return f"{self.budget_repr()}, relu={self.relu}"
