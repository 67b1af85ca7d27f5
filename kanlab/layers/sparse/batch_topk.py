"""BatchTopK: keep the k * B largest entries over a whole batch; a learnt threshold at eval."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from kanlab.layers._compile import exporting
from kanlab.layers.sparse._select import SparsityBudget, keep_values
from kanlab.registry import ACTIVATIONS

__all__ = ["BatchTopK"]


@ACTIVATIONS.register("batch_topk", elementwise=False, example_hparams={"k": 2})
class BatchTopK(SparsityBudget):
    """Keep the k * B largest (ReLU'd) entries of a batch of B rows; rows get varying counts.

    Bussmann, Leask & Nanda, "BatchTopK Sparse Autoencoders", arXiv:2412.06410.

        training:  r = relu(z) if ``relu`` else z;  flatten all B rows of length d
                   S = indices of the k * B largest r over the flattened batch
                   y = r on S, 0 elsewhere           (mean non-zeros per row = k exactly)
                   theta <- (1 - m) * theta + m * min(r on S)    m = ``momentum``
        eval:      y = r * 1[r > theta]              (per-row, batch-independent)

    Shapes: any ``(*)`` -> the same shape; rows run along ``dim``, B = product of the other
    dims. Gradients reach kept entries only. The running threshold ``theta`` is a buffer
    (saved in the state dict, never trained by gradients).

    Deviations: in eval before any training step (``num_batches_tracked == 0``) the batch rule
    is used, since no threshold has been learnt yet, except in an exported graph
    (``torch.onnx`` / ``torch.export``), which is always the threshold rule (batch-size
    independent; export after training); ``inplace`` is ignored.

    Args:
        k: Mean entries kept per row.
        density: Fraction kept, in (0, 1].
        sparsity: Fraction zeroed, in [0, 1).
        relu: ReLU before the selection (as the reference implementation).
        momentum: EMA factor of the running threshold, in (0, 1].
        dim: The row dim.
        inplace: Ignored.

    Raises:
        ValueError: for a bad budget or momentum; at forward when ``k`` exceeds the row size.
    """

    threshold: torch.Tensor
    num_batches_tracked: torch.Tensor

    def __init__(
        self,
        *,
        k: int | None = None,
        density: float | None = None,
        sparsity: float | None = None,
        relu: bool = True,
        momentum: float = 0.01,
        dim: int = -1,
        inplace: bool = False,
    ) -> None:
        super().__init__(k=k, density=density, sparsity=sparsity, dim=dim, inplace=inplace)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not (
            0.0 < momentum <= 1.0
        ):
            raise ValueError(f"`momentum` must be in (0, 1], but got momentum={momentum!r}.")
        self.relu = relu
        self.momentum = float(momentum)
        self.register_buffer("threshold", torch.zeros(()))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.num_kept(x.shape[self.dim])
        r = F.relu(x) if self.relu else x
        if not self.training and (exporting() or int(self.num_batches_tracked) > 0):
            return r * (r > self.threshold.to(r.dtype))
        flat = r.reshape(-1)                                      # (B * d,)
        n_keep = k * (flat.numel() // x.shape[self.dim])          # k * B
        top = flat.topk(n_keep, sorted=False)
        y = keep_values(flat, top.indices).reshape(x.shape)       # back to (*)
        if self.training:
            with torch.no_grad():
                kept = top.values
                if self.relu:
                    kept = kept[kept > 0]
                if kept.numel():
                    lowest = kept.min().to(self.threshold.dtype)
                    if int(self.num_batches_tracked) == 0:
                        self.threshold.copy_(lowest)
                    else:
                        self.threshold.lerp_(lowest, self.momentum)
                    self.num_batches_tracked.add_(1)
        return y

    def extra_repr(self) -> str:
        return f"{self.budget_repr()}, relu={self.relu}, momentum={self.momentum:g}"
