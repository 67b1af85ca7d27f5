"""Top-k mixture of experts: a sparse softmax gate over any kanlab layers as experts."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from kanlab.checks import check_at_least, check_in_features
from kanlab.registry import LAYERS, LayerSpec

__all__ = ["TopKMoE"]


@LAYERS.register("topk_moe", kind="linear", example_hparams={"num_experts": 4, "k": 2})
class TopKMoE(nn.Module):
    """Route each token to its k best experts and mix their outputs with a sparse softmax.

    Shazeer et al., "Outrageously Large Neural Networks: The Sparsely-Gated
    Mixture-of-Experts Layer", arXiv:1701.06538 (noisy top-k gating); load balancing after
    Fedus et al., "Switch Transformers", arXiv:2101.03961.

        h   = x W_g                                             (T, E) router logits
        h   = h + eps * softplus(x W_noise)                     training and noisy_gating only
        S   = indices of the k largest h                        per token
        g_e = exp(h_e) / sum_{j in S} exp(h_j) for e in S, 0 otherwise   (renormalised softmax)
        y   = sum_{e in S} g_e * expert_e(x)
        aux_loss = E * sum_e f_e * P_e                          f_e = share of the T*k routes
                                                                to e, P_e = mean softmax(h)_e

    with E = ``num_experts``, k = ``k``, eps ~ N(0, 1). ``aux_loss`` (a scalar tensor with
    gradient) is refreshed by every forward; add ``coef * layer.aux_loss`` to the training loss.
    Shapes: ``(*, in_features) -> (*, out_features)``. Gradients reach the k selected logits
    and the experts of the routed tokens only.

    Deviations: every expert runs (on an empty batch when nothing is routed to it) so that all
    parameters get a (possibly zero) gradient; there is no capacity limit or token dropping.
    ``normalize=False`` writes the full-softmax probabilities at the kept experts (Qwen's
    ``norm_topk_prob=False``), which then do not sum to 1. The noise is used only in training.

    Args:
        in_features: Input size.
        out_features: Output size.
        num_experts: Number of experts E.
        k: Experts per token (1 <= k <= E).
        expert: Expert layer spec: ``"linear"`` or any kanlab layer spec, e.g.
            ``{"name": "b_spline_kan", "grid_size": 3}``.
        noisy_gating: Add Shazeer's learnt Gaussian noise to the logits in training.
        normalize: Renormalise the kept probabilities to sum to 1.
        device: Router parameter device.
        dtype: Router parameter dtype.

    Raises:
        ValueError: for ``num_experts < 1``, ``k`` outside [1, num_experts] or an unknown
            expert; at forward for a wrong input width.
    """

    aux_loss: torch.Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        num_experts: int = 4,
        k: int = 2,
        expert: LayerSpec = "linear",
        noisy_gating: bool = False,
        normalize: bool = True,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_at_least("num_experts", num_experts, 1)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= num_experts:
            raise ValueError(
                f"`k` must be an int in [1, num_experts={num_experts}], but got k={k!r}."
            )
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        self.num_experts, self.k = num_experts, k
        self.noisy_gating, self.normalize = noisy_gating, normalize
        self.gate_weight = nn.Parameter(torch.empty(num_experts, in_features, **dd))
        self.noise_weight = (
            nn.Parameter(torch.empty(num_experts, in_features, **dd)) if noisy_gating else None
        )
        self.experts = nn.ModuleList(
            LAYERS.build(expert, in_features, out_features) for _ in range(num_experts)
        )
        self.aux_loss = torch.zeros(())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.gate_weight, std=self.in_features**-0.5)
        if self.noise_weight is not None:
            nn.init.zeros_(self.noise_weight)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Router logits ``(T, E)`` of flat tokens ``(T, in_features)`` (noise in training)."""
        h = F.linear(x, self.gate_weight)                                   # (T, E)
        if self.noise_weight is not None and self.training:
            h = h + torch.randn_like(h) * F.softplus(F.linear(x, self.noise_weight))
        return h

    def route(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept expert indices ``(T, k)`` and their gates ``(T, k)`` from logits ``(T, E)``."""
        top = h.topk(self.k, dim=-1)                                        # (T, k) each
        if self.normalize:
            gates = top.values.softmax(-1)                                  # (T, k)
        else:
            gates = h.softmax(-1).gather(-1, top.indices)                   # (T, k)
        return top.indices, gates

    def dense_gates(self, x: torch.Tensor) -> torch.Tensor:
        """The gate matrix ``(*, E)``: zero except at each token's k experts."""
        flat = x.reshape(-1, self.in_features)                              # (T, in)
        index, gates = self.route(self.logits(flat))
        dense = torch.zeros(flat.shape[0], self.num_experts, dtype=gates.dtype, device=x.device)
        return dense.scatter(-1, index, gates).reshape(*x.shape[:-1], self.num_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_in_features(x, self.in_features)
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.in_features)                              # (T, in)
        h = self.logits(flat)                                               # (T, E)
        index, gates = self.route(h)                                        # (T, k) each
        y = flat.new_zeros(flat.shape[0], self.out_features)                # (T, out)
        for e, expert in enumerate(self.experts):
            token, slot = (index == e).nonzero(as_tuple=True)               # (n_e,) each
            out = expert(flat[token])                                       # (n_e, out)
            y = y.index_add(0, token, out * gates[token, slot].unsqueeze(-1))
        routed = torch.zeros_like(h).scatter(-1, index, 1.0)                # (T, E)
        share = routed.mean(0) / self.k                                     # (E,) f_e
        prob = h.softmax(-1).mean(0)                                        # (E,) P_e
        self.aux_loss = self.num_experts * (share.detach() * prob).sum()
        return y.reshape(*lead, self.out_features)                          # (*, out)

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, margin: float = 0.01) -> None:
        """Refit each spline expert's grid to the tokens routed to it (all tokens if none)."""
        flat = x.reshape(-1, self.in_features)                              # (T, in)
        index, _ = self.route(self.logits(flat))                            # (T, k)
        for e, expert in enumerate(self.experts):
            update = getattr(expert, "update_grid", None)
            if callable(update):
                routed = flat[(index == e).any(-1)]                         # (n_e, in)
                update(routed if len(routed) else flat, margin=margin)

    def regularization_loss(
        self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
    ) -> torch.Tensor:
        """Sum of the experts' spline regularisers (0 for experts without one)."""
        total = self.gate_weight.new_zeros(())
        for expert in self.experts:
            reg = getattr(expert, "regularization_loss", None)
            if callable(reg):
                total = total + reg(regularize_activation, regularize_entropy)
        return total

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, num_experts={self.num_experts}, "
            f"k={self.k}, noisy_gating={self.noisy_gating}, normalize={self.normalize}"
        )
