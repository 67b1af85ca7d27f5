"""Wavelet KAN linear layer: a learnable frame of wavelets per input, plus a base branch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from kanlab.checks import (
    check_at_least,
    check_choice,
    check_in_features,
    check_range,
)
from kanlab.layers.kan import _fused
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.layers.kan._wavelets import WAVELETS
from kanlab.registry import ACTIVATIONS, LAYERS, ActivationSpec

__all__ = ["WAVELETS", "WavKANLinear"]


@LAYERS.register("wav_kan", kind="linear")
class WavKANLinear(KANLinearBase):
    """KAN layer whose edge functions are sums of dilated and translated wavelets.

    Bozorgasl & Chen, "Wav-KAN: Wavelet Kolmogorov-Arnold Networks", arXiv:2405.12832.

        psi_m(x_i) = psi((x_i - tau[i, m]) / sigma[i, m]),   m = 0 .. G - 1
        y_o = sum_{i, m} W_w[o, i, m] * psi_m(x_i)  +  sum_i W_b[o, i] * b(x_i)

    with psi = ``wavelet`` (Mexican hat by default: (2 / (sqrt(3) pi^(1/4))) (1 - t^2)
    exp(-t^2 / 2)), G = ``grid_size`` wavelets per input whose translations tau =
    ``translation`` start evenly spaced over ``grid_range`` and whose scales sigma =
    ``scale`` start at that spacing (both learnable), W_w = ``weight``, W_b = ``base_weight``
    and b = ``base_activation``.

    Shapes: (*, in_features) -> (*, out_features); ``basis(x)``: (B, in_features, G).

    Deviations from Wav-KAN (zavareh1/Wav-KAN): there, every edge (o, i) owns one scale and
    one translation, so the layer materialises a (B, O, D) tensor; here each input owns a
    frame of G learnable wavelets shared by all outputs and mixed by W_w (a per-input basis
    followed by one matmul, like every kanlab KAN layer), which keeps memory at (B, D, G).
    The BatchNorm that Wav-KAN puts after each layer is left to the model (``kan_mlp`` norm).

    :meth:`reference_rows` is the formula above in torch ops. Where the fused kernels run
    compiled (``compile_kernels``), ``forward`` computes the same values with those of
    ``_fused/_wavelet.py`` instead: one autograd node, the wavelets and a closed-form base
    activation in one kernel, two matmuls, and a backward that evaluates psi' once for the
    input, translation and scale gradients, saving for it about a quarter of what autograd
    saves for the formula; every other call (small calls before the switch,
    ``compile_kernels=False``, ``torch.func`` transforms, forward-mode AD, export) runs
    :meth:`reference_rows`, which eager kernels did not beat. Differentiable to any order:
    gradients taken with ``create_graph=True`` are those of the formula on autograd.

    Args:
        in_features: Input width D.
        out_features: Output width O.
        grid_size: Wavelets per input G (>= 1).
        grid_range: ``(low, high)`` over which the initial translations are spread.
        wavelet: ``mexican_hat``, ``morlet`` or ``dog``.
        base_activation: Activation spec of the base branch; ``None`` drops it.
        chunk_size: Rows processed at once; ``None`` = automatic (256 MiB of basis).
        compile_kernels: Run the fused kernels (through ``torch.compile``) instead of the
            formula: ``None`` (default) once a call has >= 2^21 basis entries or the layer's
            calls at that input shape add up to a compilation's cost
            (``_compile.use_compiled``), ``True`` always, ``False`` never; a failing compiler
            falls back to the eager kernels with a warning. ``KANLAB_COMPILE=0|1`` sets
            ``None``'s choice.
        device: Factory kwarg for parameters.
        dtype: Factory kwarg for parameters.

    Raises:
        ValueError: for ``grid_size < 1``, a bad ``grid_range``, an unknown ``wavelet`` or
            ``base_activation``, ``chunk_size < 1``, or (in ``forward``) a wrong input last dim.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 8,
        grid_range: Sequence[float] = (-1.0, 1.0),
        wavelet: Literal["mexican_hat", "morlet", "dog"] = "mexican_hat",
        base_activation: ActivationSpec | None = "silu",
        chunk_size: int | None = None,
        compile_kernels: bool | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_at_least("grid_size", grid_size, 1)
        low, high = check_range("grid_range", grid_range)
        check_choice("wavelet", wavelet, tuple(WAVELETS))
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.grid_size, self.grid_range, self.wavelet = grid_size, (low, high), wavelet
        self.num_bases = grid_size
        self.translation = nn.Parameter(torch.empty(in_features, grid_size, **dd))
        self.scale = nn.Parameter(torch.empty(in_features, grid_size, **dd))
        self.weight = nn.Parameter(torch.empty(out_features, in_features * grid_size, **dd))
        self.base_activation = (
            None if base_activation is None else ACTIVATIONS.build(base_activation)
        )
        if self.base_activation is not None and (device is not None or dtype is not None):
            self.base_activation.to(device=device, dtype=dtype)  # its own parameters, if any
        self.base_weight = (
            nn.Parameter(torch.empty(out_features, in_features, **dd))
            if base_activation is not None
            else None
        )
        self.compile_kernels = compile_kernels
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Evenly spread translations, scales = spacing, kaiming-uniform weights."""
        low, high = self.grid_range
        g = self.grid_size
        spacing = (high - low) / max(g - 1, 1)
        with torch.no_grad():
            centres = torch.linspace(low, high, g) if g > 1 else torch.tensor([(low + high) / 2])
            self.translation.copy_(centres.expand(self.in_features, -1))  # (D, G)
            self.scale.fill_(spacing if g > 1 else high - low)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.base_weight is not None:
            nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))

    def basis(self, x: Tensor) -> Tensor:
        """Wavelet values ``(B, in_features, G)`` for inputs ``(*, in_features)``."""
        check_in_features(x, self.in_features)
        return self._wavelets(x.reshape(-1, self.in_features))           # (B, D, G)

    def _wavelets(self, x: Tensor) -> Tensor:
        t = (x.unsqueeze(-1) - self.translation) / self.scale            # (B, D, G)
        return WAVELETS[self.wavelet](t)

    def reference_rows(self, x: Tensor) -> Tensor:
        """The formula in torch ops on a ``(n, in_features)`` block -> ``(n, out_features)``."""
        psi = self._wavelets(x).reshape(x.shape[0], -1)                 # (n, D*G)
        y = F.linear(psi, self.weight)                                  # (n, O)
        if self.base_weight is not None and self.base_activation is not None:
            y = y + F.linear(self.base_activation(x), self.base_weight)
        return y

    def forward_rows(self, x: Tensor) -> Tensor:
        """:meth:`reference_rows` by the fused kernels (same values)."""
        return _fused.wav_kan(self, x)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, grid_size={self.grid_size}, "
            f"grid_range={self.grid_range}, wavelet={self.wavelet!r}"
        )
