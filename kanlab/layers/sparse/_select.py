"""Shared parts of the top-k family: the k / density / sparsity budget and selection helpers.

Every top-k module states its budget in exactly one of three ways:

- ``k``: the number of entries kept per row (int >= 1);
- ``density``: the fraction kept, in (0, 1]; resolved per row as ``max(1, round(density * d))``;
- ``sparsity``: the fraction zeroed, in [0, 1); the same as ``density = 1 - sparsity``.

A "row" is the slice along ``dim`` (the last dim by default; CNN builders pass ``dim=1`` for
channels); every other dim is a leading dim.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SparsityBudget", "keep_values", "resolve_budget"]


def resolve_budget(
    k: int | None, density: float | None, sparsity: float | None
) -> tuple[str, float]:
    """Check that exactly one budget is given and return ``(kind, value)``.

    Raises:
        ValueError: if none or several are given, or the given one is out of range.
    """
    given = {
        name: value
        for name, value in (("k", k), ("density", density), ("sparsity", sparsity))
        if value is not None
    }
    if len(given) != 1:
        shown = ", ".join(f"{n}={v!r}" for n, v in given.items()) or "none"
        raise ValueError(
            f"Exactly one of `k`, `density` or `sparsity` must be given, but got {shown}."
        )
    (name, value), = given.items()
    if name == "k":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`k` must be an int >= 1, but got k={value!r}.")
        return name, float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` must be a number, but got {name}={value!r}.")
    if name == "density" and not 0.0 < value <= 1.0:
        raise ValueError(f"`density` must be in (0, 1], but got density={value!r}.")
    if name == "sparsity" and not 0.0 <= value < 1.0:
        raise ValueError(f"`sparsity` must be in [0, 1), but got sparsity={value!r}.")
    return name, float(value)


class SparsityBudget(nn.Module):
    """Base of the top-k family: holds the budget, the reduction dim and ``inplace``.

    Args:
        k: Entries kept per row (int >= 1).
        density: Fraction of entries kept per row, in (0, 1].
        sparsity: Fraction of entries zeroed per row, in [0, 1).
        dim: The dim the budget applies to (``-1`` by default; ``1`` for channels of NCHW).
        inplace: Accepted for timm's ``act_layer`` interface and ignored (the output is a new
            tensor, so autograd can keep the selection).

    Raises:
        ValueError: if not exactly one of ``k``, ``density``, ``sparsity`` is given or it is
            out of range; :meth:`num_kept` raises when ``k`` exceeds the row size.
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        density: float | None = None,
        sparsity: float | None = None,
        dim: int = -1,
        inplace: bool = False,
    ) -> None:
        super().__init__()
        self.budget_kind, self.budget_value = resolve_budget(k, density, sparsity)
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ValueError(f"`dim` must be an int, but got dim={dim!r}.")
        self.k, self.density, self.sparsity = k, density, sparsity
        self.dim = dim
        self.inplace = inplace

    def num_kept(self, d: int) -> int:
        """Entries kept in a row of ``d`` entries (``1 <= result <= d``)."""
        if self.budget_kind == "k":
            k = int(self.budget_value)
            if k > d:
                raise ValueError(
                    f"`k` must be <= the size of dim {self.dim} ({d}), but got k={k}."
                )
            return k
        frac = self.budget_value if self.budget_kind == "density" else 1.0 - self.budget_value
        return max(1, min(d, round(frac * d)))

    def kept_fraction(self, d: int) -> float:
        """Fraction of a row of ``d`` entries that is kept (exact for density/sparsity)."""
        if self.budget_kind == "k":
            return self.num_kept(d) / d
        if self.budget_kind == "density":
            return self.budget_value
        return 1.0 - self.budget_value

    def budget_repr(self) -> str:
        return f"{self.budget_kind}={self.budget_value:g}, dim={self.dim}"

    def extra_repr(self) -> str:
        return self.budget_repr()


def keep_values(x: torch.Tensor, index: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Zeros except ``x`` at ``index`` along ``dim``; gradients reach the kept entries only."""
    return torch.zeros_like(x).scatter(dim, index, x.gather(dim, index))


def normal_quantile(p: float) -> float:
    """Φ⁻¹(p) for 0 < p < 1 (the standard-normal quantile), as a Python float."""
    return float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))
