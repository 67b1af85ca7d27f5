"""top-AFA: a per-row k chosen so the kept latents' decoded energy matches the input norm."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from kanlab.registry import ACTIVATIONS

__all__ = ["TopAFA"]


@ACTIVATIONS.register("top_afa", elementwise=False, example_hparams={})
class TopAFA(nn.Module):
    """Keep the smallest energy-sorted prefix whose decoded norm best matches a target norm.

    Lee, Davies, Canby & Hockenmaier, "Evaluating and Designing Sparse Autoencoders by
    Approximating Quasi-Orthogonality" (top-AFA), arXiv:2503.24277.

        a   = max(z, 0)
        c_i = (a_i * n_i)^2                      n = ``decoder_norms`` (decoder column norms)
        sort c descending (order pi), C_j = sum_{i <= j} c_pi(i)
        k   = argmin_j |sqrt(C_j) - T| + 1       per row; 1 <= k <= d
        y   = a on pi(1..k), 0 elsewhere

    T is the target norm passed to ``forward`` (the SAE passes ||x - b_pre||); without one,
    T = sqrt(``energy_fraction``) * sqrt(C_d), i.e. keep about that fraction of the row's
    decoded energy. Shapes: any ``(*)`` -> the same shape; rows run along ``dim``; ``target``
    is ``(*)`` without ``dim`` (or broadcastable to it). The per-row k of the last call is
    ``last_k``. Selection is non-differentiable; gradients reach kept entries only. Train and
    eval behave the same.

    Deviations: the reference code sets the last cumulative sum to a huge value; here the
    nearest match may be the whole row. The standalone target (``energy_fraction``) is a
    kanlab addition so the module works outside an SAE. There is no fixed k, so the
    ``k``/``density``/``sparsity`` budget of the rest of the family does not apply.
    ``inplace`` is ignored.

    Args:
        decoder_norms: Length-d norms of the decoder columns (a buffer; default ones, i.e. a
            unit-norm dictionary). ``set_decoder_norms`` updates it.
        energy_fraction: Fraction of the decoded energy kept when no target is given, in (0, 1].
        dim: The row dim.
        inplace: Ignored.

    Raises:
        ValueError: for ``energy_fraction`` outside (0, 1] or non-1-D ``decoder_norms``.
    """

    decoder_norms: torch.Tensor | None
    last_k: torch.Tensor | None

    def __init__(
        self,
        *,
        decoder_norms: torch.Tensor | None = None,
        energy_fraction: float = 0.9,
        dim: int = -1,
        inplace: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 < energy_fraction <= 1.0:
            raise ValueError(
                "`energy_fraction` must be in (0, 1], but got "
                f"energy_fraction={energy_fraction!r}."
            )
        if decoder_norms is not None and decoder_norms.dim() != 1:
            raise ValueError(
                "`decoder_norms` must be 1-D, but got "
                f"decoder_norms.shape={tuple(decoder_norms.shape)}."
            )
        self.energy_fraction = float(energy_fraction)
        self.dim = dim
        self.inplace = inplace
        self.register_buffer("decoder_norms", decoder_norms)
        self.last_k = None

    def set_decoder_norms(self, norms: torch.Tensor) -> None:
        """Replace the decoder column norms (e.g. after each SAE optimiser step)."""
        self.decoder_norms = norms.detach().clone()

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        rows = x.movedim(self.dim, -1)                                 # (*, d)
        d = rows.shape[-1]
        a = F.relu(rows)
        with torch.no_grad():
            energy = a.detach()
            if self.decoder_norms is not None:
                if self.decoder_norms.numel() != d:
                    raise ValueError(
                        f"`decoder_norms` must have {d} entries (the size of dim {self.dim}), "
                        f"but got {self.decoder_norms.numel()}."
                    )
                energy = energy * self.decoder_norms.to(energy.dtype)  # broadcast over rows
            energy = energy.square()
            sorted_energy, order = energy.sort(dim=-1, descending=True)  # (*, d) each
            cum = sorted_energy.cumsum(-1).sqrt()                      # (*, d)
            if target is None:
                goal = cum[..., -1:] * self.energy_fraction**0.5       # (*, 1)
            else:
                goal = target.detach().to(cum.dtype).unsqueeze(-1)     # (*, 1)
            k = (cum - goal).abs().argmin(dim=-1, keepdim=True) + 1    # (*, 1)
            ranks = torch.arange(d, device=x.device).expand_as(order)  # (*, d)
            mask = torch.zeros_like(a, dtype=torch.bool).scatter(-1, order, ranks < k)
            self.last_k = k.squeeze(-1)
        y = a * mask
        return y.movedim(-1, self.dim)                                 # back to (*)

    def extra_repr(self) -> str:
        return f"energy_fraction={self.energy_fraction:g}, dim={self.dim}"
