"""Shared wiring of the linear KAN layers with a per-input basis: checks, flattening, chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from kanlab.checks import check_at_least, check_in_features, check_positive
from kanlab.layers.kan._chunks import apply_in_chunks, chunk_rows

__all__ = ["KANLinearBase"]


class KANLinearBase(nn.Module):
    """Base of ``(*, in_features) -> (*, out_features)`` KAN layers built on a per-input basis.

    Subclasses set ``num_bases`` (basis functions per input, for the memory budget) and
    implement :meth:`forward_rows` on a ``(n, in_features)`` block (their formula; a layer with
    a fused path also exposes the formula as ``reference_rows`` and reaches the kernels from
    ``forward_rows``). :meth:`forward` checks the input width, flattens the leading dims and
    calls :meth:`forward_flat`, which by default evaluates the rows in memory-bounded chunks
    (``chunk_size`` rows, or as many as keep one chunk's basis within the budget of
    ``_chunks.py`` when ``None``). A layer whose last steps mix rows (AF-KAN's batch norm)
    overrides :meth:`forward_flat` and chunks only its row-wise part with :meth:`in_chunks`.
    A coefficient parameter indexed ``(O, D, M)`` also loads from a state dict that holds it
    flat, ``(O, D * M)``, the same values in the same order (fast-kan's ``spline_linear``
    weight, and kanlab's own FastKAN and ReLU-KAN state dicts from before they stored their
    coefficients basis-major).

    Raises:
        ValueError: for ``in_features < 1``, ``out_features < 1``, ``chunk_size < 1``, or (in
            ``forward``) a wrong input last dim.
    """

    num_bases: int

    def __init__(self, in_features: int, out_features: int, *, chunk_size: int | None) -> None:
        super().__init__()
        check_at_least("in_features", in_features, 1)
        check_at_least("out_features", out_features, 1)
        if chunk_size is not None:
            check_positive("chunk_size", chunk_size)
        self.in_features, self.out_features = in_features, out_features
        self.chunk_size = chunk_size

    def forward_rows(self, x: Tensor) -> Tensor:
        """The layer's row-wise part on a ``(n, in_features)`` block (by default the layer)."""
        raise NotImplementedError

    def in_chunks(self, fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """``fn(x)`` for ``x`` ``(N, in_features)``, evaluated in chunks of rows."""
        row_bytes = self.in_features * self.num_bases * x.element_size()
        return apply_in_chunks(fn, x, chunk_rows(row_bytes, self.chunk_size), self)

    def forward_flat(self, x: Tensor) -> Tensor:
        """The layer on ``(N, in_features)`` -> ``(N, out_features)``."""
        return self.in_chunks(self.forward_rows, x)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        for name, param in self._parameters.items():
            value = state_dict.get(prefix + name)
            if (
                param is not None and isinstance(value, Tensor) and param.dim() == 3
                and value.shape == (param.shape[0], param.shape[1] * param.shape[2])
            ):
                state_dict[prefix + name] = value.reshape(param.shape)   # (O, D*M) -> (O, D, M)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def forward(self, x: Tensor) -> Tensor:
        check_in_features(x, self.in_features)
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_features)                              # (B, D)
        y = self.forward_flat(x)                                         # (B, O)
        return y.reshape(*lead, self.out_features)                       # (*, O)
