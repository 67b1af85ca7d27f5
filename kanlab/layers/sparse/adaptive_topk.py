"""Adaptive top-k: a feedback controller that steers a statistical threshold to a target."""

from __future__ import annotations

from typing import Literal

import torch

from kanlab.checks import check_choice
from kanlab.layers.sparse._select import SparsityBudget, normal_quantile
from kanlab.layers.sparse.stat_topk import row_stats
from kanlab.registry import ACTIVATIONS

__all__ = ["AdaptiveTopK"]

TARGETS = ("density", "entropy")


@ACTIVATIONS.register("adaptive_topk", elementwise=False, example_hparams={"k": 2})
class AdaptiveTopK(SparsityBudget):
    """Threshold sparsifier whose offset is steered toward a target density or entropy.

    Control loop after Basu et al., "Mirostat: A Neural Text Decoding Algorithm that Directly
    Controls Perplexity", arXiv:2007.14966 (an integral, Robbins-Monro feedback on a measured
    quantity); the threshold model is Spark's statistical top-k, arXiv:2506.06644.

        theta = mu(z) + sigma(z) * (Phi^-1(1 - rho) + delta)      per row; rho = k / d
        y     = z * 1[z > theta]                                   (values kept)
        training, after each forward (no gradient):
          target="density":  delta <- delta + gain * (rho_hat - rho) / rho
          target="entropy":  delta <- delta + gain * (H_hat - H*)
        rho_hat = realised fraction kept; H_hat = mean row entropy (nats) of |y| / sum |y|;
        H* = ``target_entropy``; delta = buffer ``offset``. In eval delta is frozen.

    With the density target the realised kept fraction converges to k / d even when rows are
    not Gaussian (where plain ``stat_topk`` drifts). Shapes: any ``(*)`` -> the same shape;
    rows run along ``dim``. Gradients reach kept entries only (theta is detached).

    Deviations: this controller is a kanlab design (the literature has no adaptive-k layer of
    this form); Mirostat's Zipf model for k is replaced by the Gaussian quantile. ``inplace``
    is ignored.

    Args:
        k: Target (and initial) entries kept per row.
        density: Target fraction kept, in (0, 1].
        sparsity: Target fraction zeroed, in [0, 1).
        target: ``"density"`` or ``"entropy"`` (then ``target_entropy`` is required).
        target_entropy: Target mean row entropy in nats (entropy target only).
        gain: Controller gain eta (> 0).
        dim: The row dim.
        inplace: Ignored.

    Raises:
        ValueError: for a bad budget, target, gain, or a missing/unexpected target_entropy.
    """

    offset: torch.Tensor
    measured: torch.Tensor

    def __init__(
        self,
        *,
        k: int | None = None,
        density: float | None = None,
        sparsity: float | None = None,
        target: Literal["density", "entropy"] = "density",
        target_entropy: float | None = None,
        gain: float = 0.5,
        dim: int = -1,
        inplace: bool = False,
    ) -> None:
        super().__init__(k=k, density=density, sparsity=sparsity, dim=dim, inplace=inplace)
        check_choice("target", target, TARGETS)
        if (target == "entropy") != (target_entropy is not None):
            raise ValueError(
                "`target_entropy` must be given exactly when target='entropy', but got "
                f"target={target!r}, target_entropy={target_entropy!r}."
            )
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0:
            raise ValueError(f"`gain` must be > 0, but got gain={gain!r}.")
        self.target = target
        self.target_entropy = target_entropy
        self.gain = float(gain)
        self.register_buffer("offset", torch.zeros(()))
        self.register_buffer("measured", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[self.dim]
        rho = self.kept_fraction(d)
        if rho >= 1.0:
            return x
        rows = x.movedim(self.dim, -1)                                   # (*, d)
        with torch.no_grad():
            mean, std = row_stats(rows.detach())                         # (*, 1) each
            z = normal_quantile(1.0 - rho) + self.offset.to(x.dtype)
            keep = rows > mean + std * z                                 # (*, d)
        y = rows * keep
        if self.training:
            with torch.no_grad():
                self._update(y.detach(), keep, rho)
        return y.movedim(-1, self.dim)                                   # back to (*)

    def _update(self, y: torch.Tensor, keep: torch.Tensor, rho: float) -> None:
        if self.target == "density":
            measured = keep.float().mean()
            error = (measured - rho) / rho
        else:
            p = y.abs() / y.abs().sum(-1, keepdim=True).clamp_min(1e-12)  # (*, d)
            measured = -(p * p.clamp_min(1e-12).log()).sum(-1).mean()
            error = measured - float(self.target_entropy or 0.0)
        self.measured.copy_(measured)
        self.offset.add_(self.gain * error.to(self.offset.dtype))

    def extra_repr(self) -> str:
        goal = f"target_entropy={self.target_entropy}" if self.target == "entropy" else "density"
        return f"{self.budget_repr()}, target={goal}, gain={self.gain:g}"
