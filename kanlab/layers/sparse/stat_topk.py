"""Statistical top-k (Spark Transformer): a Gaussian-quantile threshold instead of a sort."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.nn import functional as F

from kanlab.layers._checks import check_choice
from kanlab.layers.sparse._select import SparsityBudget, normal_quantile
from kanlab.registry import ACTIVATIONS

__all__ = ["StatTopK", "row_stats"]

MODES = ("soft", "hard")
_CHUNK_ELEMENTS = 1 << 20  # rows per chunk: few ops, and a chunk stays near cache


def row_stats(x: torch.Tensor, num_samples: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased std of each row of a ``(N, d)`` tensor, each ``(N, 1)``.

    With ``num_samples`` set and ``d > 2 * num_samples``, the statistics come from evenly
    spaced blocks of 64 contiguous columns (about ``num_samples`` entries per row), so only a
    fraction of the row is read.
    """
    d = x.shape[-1]
    if num_samples is not None and d > 2 * num_samples:
        block = 64
        n_blocks = d // block
        take = max(1, num_samples // block)
        step = max(1, n_blocks // take)
        blocks = x[:, : n_blocks * block].unflatten(1, (n_blocks, block))  # (N, nb, 64)
        x = blocks[:, ::step].flatten(1)                                    # (N, ~num_samples)
    var, mean = torch.var_mean(x, dim=-1, keepdim=True)                     # (N, 1) each
    return mean, var.sqrt()


class _SoftThreshold(torch.autograd.Function):
    """y = max(x - theta, 0) with theta constant: one cache-resident pass per row chunk."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        y = torch.empty_like(x)
        rows = max(1, _CHUNK_ELEMENTS // max(1, x.shape[-1]))
        for start in range(0, x.shape[0], rows):
            part = y[start : start + rows]
            torch.sub(x[start : start + rows], theta[start : start + rows], out=part)
            part.clamp_min_(0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, y, 0), None


@ACTIVATIONS.register(
    "stat_topk", elementwise=False, example_hparams={"k": 2, "grad_through_threshold": True}
)
class StatTopK(SparsityBudget):
    """Keep about k entries per row with a threshold from the row's mean and std (no sort).

    You et al., "Spark Transformer: Reactivating Sparsity in FFN and Attention",
    arXiv:2506.06644.

        theta = mu(z) + sigma(z) * Phi^-1(1 - k / d)     per row; Phi^-1 = standard-normal quantile
        soft (default):  y = max(z - theta, 0)
        hard:            y = z * 1[z > theta]

    with k = ``k`` (or ``density * d``), mu, sigma the row mean and unbiased std. For Gaussian
    rows the mean kept count is k (per-row spread ~5 % of k at 8 % density); for skewed inputs
    (post-GELU values) it is not, so apply it to pre-activations. Shapes: any ``(*)`` -> the
    same shape; rows run along ``dim``. Train and eval behave the same.

    Gradients: dy_i/dz_i = 1[z_i > theta]. With ``grad_through_threshold=False`` (default)
    theta is detached; with ``True`` the soft form also back-propagates through mu and sigma.

    Deviations: the paper's stop-gradient choice is not verified, so it is a flag (default
    detached, the fast path: a fused single pass with a custom backward). ``num_samples``
    estimates mu and sigma from evenly spaced 64-column blocks of long rows (an estimate, not
    the exact row statistics). At k = d (density 1) the module is the identity. ``inplace`` is
    ignored.

    Args:
        k: Expected entries kept per row.
        density: Expected fraction kept, in (0, 1].
        sparsity: Expected fraction zeroed, in [0, 1).
        mode: ``"soft"`` (shifted ReLU, as Spark's FFN) or ``"hard"`` (mask, values kept).
        grad_through_threshold: Back-propagate through mu and sigma.
        num_samples: Estimate mu, sigma from about this many entries of rows longer than twice
            it; ``None`` always uses the whole row.
        dim: The row dim.
        inplace: Ignored.

    Raises:
        ValueError: for a bad budget, mode or ``num_samples``; at forward when ``k`` exceeds
            the row size.
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        density: float | None = None,
        sparsity: float | None = None,
        mode: Literal["soft", "hard"] = "soft",
        grad_through_threshold: bool = False,
        num_samples: int | None = 2048,
        dim: int = -1,
        inplace: bool = False,
    ) -> None:
        super().__init__(k=k, density=density, sparsity=sparsity, dim=dim, inplace=inplace)
        check_choice("mode", mode, MODES)
        if num_samples is not None and (
            isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 64
        ):
            raise ValueError(
                f"`num_samples` must be None or an int >= 64, but got num_samples={num_samples!r}."
            )
        self.mode = mode
        self.grad_through_threshold = grad_through_threshold
        self.num_samples = num_samples

    def threshold(self, x: torch.Tensor) -> torch.Tensor:
        """theta for each row of a ``(N, d)`` tensor, shape ``(N, 1)``."""
        frac = self.kept_fraction(x.shape[-1])
        mean, std = row_stats(x, self.num_samples)
        return mean + std * normal_quantile(1.0 - frac)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[self.dim]
        if self.kept_fraction(d) >= 1.0:
            return x
        rows = x.movedim(self.dim, -1)                             # (*, d)
        flat = rows.reshape(-1, d)                                 # (N, d)
        if self.grad_through_threshold:
            theta = self.threshold(flat)                           # (N, 1)
        else:
            with torch.no_grad():
                theta = self.threshold(flat.detach())              # (N, 1)
        if self.mode == "hard":
            y = flat * (flat > theta)
        elif self.grad_through_threshold:
            y = F.relu(flat - theta)
        else:
            y = _SoftThreshold.apply(flat.contiguous(), theta)
        return y.reshape(rows.shape).movedim(-1, self.dim)         # back to (*)

    def extra_repr(self) -> str:
        return (
            f"{self.budget_repr()}, mode={self.mode!r}, "
            f"grad_through_threshold={self.grad_through_threshold}, num_samples={self.num_samples}"
        )
