"""Sparse autoencoder: encoder, any top-k activation, unit-norm decoder, AuxK revival."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import torch
from torch import nn
from torch.nn import functional as F

from kanlab.checks import check_at_least, check_in_features
from kanlab.layers.sparse.g_topk import GTopK
from kanlab.layers.sparse.top_afa import TopAFA
from kanlab.registry import ACTIVATIONS, ActivationSpec
from kanlab.sae.config import DEFAULT_K

__all__ = ["SAEOutput", "SparseAutoencoder", "geometric_median", "normalized_mse"]


class SAEOutput(NamedTuple):
    """Reconstruction ``(N, d_in)``, sparse code ``(N, d_sae)``, pre-activations ``(N, d_sae)``."""

    x_hat: torch.Tensor
    z: torch.Tensor
    pre: torch.Tensor


def normalized_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE over the MSE of the per-feature mean predictor (fraction of variance unexplained)."""
    baseline = (target - target.mean(0, keepdim=True)).square().mean()
    return (pred - target).square().mean() / baseline.clamp_min(1e-12)


def geometric_median(x: torch.Tensor, iters: int = 20) -> torch.Tensor:
    """Weiszfeld iterations for the geometric median of the rows of ``(N, d)``."""
    median = x.mean(0)
    for _ in range(iters):
        weights = 1.0 / (x - median).norm(dim=-1).clamp_min(1e-8)         # (N,)
        median = (weights.unsqueeze(-1) * x).sum(0) / weights.sum()       # (d,)
    return median


class SparseAutoencoder(nn.Module):
    """Sparse autoencoder with a pluggable top-k activation and unit-norm decoder columns.

    Gao et al., "Scaling and evaluating sparse autoencoders", arXiv:2406.04093.

        pre   = W_enc (x - b_pre) + b_enc                       (N, d_sae)
        z     = act(pre)                                        any top-k activation spec
        x_hat = W_dec z + b_pre                                 (N, d_in)
        AuxK: z_aux = ReLU(TopK_{k_aux}(pre restricted to dead latents))
              L_aux = nmse(W_dec z_aux, detach(x - x_hat))      (no b_pre: no bias double count)

    with ``W_enc`` ``(d_sae, d_in)`` = ``encoder.weight``, ``W_dec`` ``(d_in, d_sae)`` whose
    columns are kept at unit norm by the trainer, ``b_pre`` the pre-encoder / decoder bias.
    Tied init: W_dec = W_enc^T (then unit columns). ``top_afa`` receives the target norm
    ||x - b_pre|| and the decoder norms; ``g_topk`` receives ``attribution`` (the trainer's
    W_dec^T grad_x L). Shapes: ``(N, d_in) -> SAEOutput``.

    Deviations: the encoder rescaling of ``init_from_data_`` in the reference is replaced by a
    plain tied init; no input standardisation (the trainer normalises the loss by the data
    variance instead).

    Args:
        d_in: Input (hooked activation) size.
        d_sae: Number of latents.
        activation: Activation spec, e.g. ``{"name": "topk", "k": 32, "relu": True}``; the
            default ``"topk"`` keeps ``min(DEFAULT_K, d_sae)`` latents with a ReLU
            (``DEFAULT_K`` = 16, the ``task: sae`` config's default,
            :data:`kanlab.sae.config.DEFAULT_K`).
        device: Parameter device.
        dtype: Parameter dtype.

    Raises:
        ValueError: for sizes < 1 or an unknown activation; at forward for a wrong width.
    """

    def __init__(
        self,
        d_in: int,
        d_sae: int,
        *,
        activation: ActivationSpec = "topk",
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_at_least("d_in", d_in, 1)
        check_at_least("d_sae", d_sae, 1)
        if activation == "topk":
            activation = {"name": "topk", "k": min(DEFAULT_K, d_sae), "relu": True}
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.d_in, self.d_sae = d_in, d_sae
        self.W_enc = nn.Parameter(torch.empty(d_sae, d_in, **dd))
        self.b_enc = nn.Parameter(torch.empty(d_sae, **dd))
        self.W_dec = nn.Parameter(torch.empty(d_in, d_sae, **dd))
        self.b_pre = nn.Parameter(torch.empty(d_in, **dd))
        self.activation = ACTIVATIONS.build(activation)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.W_enc, a=5**0.5)
        nn.init.zeros_(self.b_enc)
        nn.init.zeros_(self.b_pre)
        with torch.no_grad():
            self.W_dec.copy_(self.W_enc.T)
        self.normalize_decoder_()

    @torch.no_grad()
    def init_from_data_(self, x: torch.Tensor) -> None:
        """Set ``b_pre`` to the geometric median of a data sample ``(N, d_in)``."""
        self.b_pre.copy_(geometric_median(x.to(self.b_pre.dtype)))

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        """Rescale every decoder column to unit norm."""
        self.W_dec.div_(self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def remove_parallel_grad_(self) -> None:
        """Project out the gradient component parallel to each decoder column."""
        if self.W_dec.grad is None:
            return
        along = (self.W_dec.grad * self.W_dec).sum(0, keepdim=True)       # (1, d_sae)
        self.W_dec.grad.sub_(along * self.W_dec)

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        check_in_features(x, self.d_in)
        return F.linear(x - self.b_pre, self.W_enc, self.b_enc)          # (N, d_sae)

    def activate(
        self, pre: torch.Tensor, x: torch.Tensor, attribution: torch.Tensor | None = None
    ) -> torch.Tensor:
        if isinstance(self.activation, TopAFA):
            self.activation.set_decoder_norms(self.W_dec.norm(dim=0))
            return cast(torch.Tensor, self.activation(pre, target=(x - self.b_pre).norm(dim=-1)))
        if isinstance(self.activation, GTopK):
            return cast(torch.Tensor, self.activation(pre, attribution))
        return cast(torch.Tensor, self.activation(pre))

    def encode(self, x: torch.Tensor, attribution: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.preactivation(x), x, attribution)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(z, self.W_dec, self.b_pre)                       # (N, d_in)

    def attribution(self, grad: torch.Tensor) -> torch.Tensor:
        """Per-latent attribution W_dec^T grad_x L ``(N, d_sae)`` of a gradient ``(N, d_in)``."""
        return grad @ self.W_dec.detach()

    def forward(self, x: torch.Tensor, attribution: torch.Tensor | None = None) -> SAEOutput:
        pre = self.preactivation(x)
        z = self.activate(pre, x, attribution)
        return SAEOutput(self.decode(z), z, pre)

    def aux_loss(
        self, x: torch.Tensor, out: SAEOutput, dead: torch.Tensor, k_aux: int
    ) -> torch.Tensor:
        """AuxK loss: the top ``k_aux`` dead latents regress the detached residual.

        Args:
            x: The input ``(N, d_in)``.
            out: This input's :class:`SAEOutput`.
            dead: Bool ``(d_sae,)``, True for latents that have not fired recently.
            k_aux: Dead latents used per row (clipped to the number of dead latents).
        """
        n_dead = int(dead.sum())
        if n_dead == 0 or k_aux < 1:
            return out.pre.new_zeros(())
        k = min(k_aux, n_dead)
        masked = out.pre.masked_fill(~dead, float("-inf"))                # (N, d_sae)
        top = masked.topk(k, dim=-1)                                      # (N, k) each
        z_aux = torch.zeros_like(out.pre).scatter(-1, top.indices, F.relu(top.values))
        residual = (x - out.x_hat).detach()                               # (N, d_in)
        return normalized_mse(F.linear(z_aux, self.W_dec), residual)

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_sae={self.d_sae}"
