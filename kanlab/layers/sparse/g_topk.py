"""g-TopK: top-k selection ranked by activation plus gradient attribution (g-SAE)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from kanlab.layers.sparse._select import SparsityBudget, keep_values
from kanlab.registry import ACTIVATIONS

__all__ = ["GTopK"]


@ACTIVATIONS.register("g_topk", elementwise=False, example_hparams={"k": 2})
class GTopK(SparsityBudget):
    """Top-k selection that favours latents with a large downstream-loss attribution.

    Olmo et al., "Features that Make a Difference: Leveraging Gradients for Improved
    Dictionary Learning" (g-SAE), arXiv:2411.10397.

        s_i = z_i + beta * z_i * |a_i|          a = ``attribution`` (W_dec^T grad_x L per latent)
        S   = indices of the k largest s_i along ``dim``
        y_i = z_i if i in S else 0               (the activation z is written, not the score)

    with beta = ``beta``. Without an attribution (or beta = 0) this is :class:`TopK`.
    Shapes: ``x`` and ``attribution`` ``(*)`` (broadcastable) -> the shape of ``x``. The
    selection is non-differentiable: gradients reach kept z only, never the attribution.
    Train and eval behave the same.

    Deviations: the paper's exact placement of the absolute value and of the ReLU is not
    verified; here |.| wraps the attribution only and ``relu=True`` applies ReLU after the
    selection (as in the TopK SAE). The attribution must be computed by the caller (the SAE
    trainer does a backward pass through the host model); ``inplace`` is ignored.

    Args:
        k: Entries kept per row.
        density: Fraction kept per row, in (0, 1].
        sparsity: Fraction zeroed per row, in [0, 1).
        beta: Weight of the attribution term in the score.
        relu: Apply a ReLU to the kept values.
        dim: The row dim.
        inplace: Ignored.

    Raises:
        ValueError: for a bad budget or ``beta < 0``; at forward when ``k`` exceeds the row size.
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        density: float | None = None,
        sparsity: float | None = None,
        beta: float = 1.0,
        relu: bool = True,
        dim: int = -1,
        inplace: bool = False,
    ) -> None:
        super().__init__(k=k, density=density, sparsity=sparsity, dim=dim, inplace=inplace)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
            raise ValueError(f"`beta` must be >= 0, but got beta={beta!r}.")
        self.beta = float(beta)
        self.relu = relu

    def forward(self, x: torch.Tensor, attribution: torch.Tensor | None = None) -> torch.Tensor:
        k = self.num_kept(x.shape[self.dim])
        score = x.detach()
        if attribution is not None and self.beta:
            score = score + self.beta * score * attribution.detach().abs()  # broadcast to x
        index = score.topk(k, dim=self.dim, sorted=False).indices  # (*, k) along dim
        y = keep_values(x, index, self.dim)
        return F.relu(y) if self.relu else y

    def extra_repr(self) -> str:
        return f"{self.budget_repr()}, beta={self.beta:g}, relu={self.relu}"
