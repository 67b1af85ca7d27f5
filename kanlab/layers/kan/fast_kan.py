"""FastKAN linear layer: Gaussian radial basis functions instead of B-splines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.nn import functional as F

from kanlab.checks import check_at_least, check_in_features, check_range
from kanlab.layers.kan._basis_weight import WEIGHT, weight_grads
from kanlab.layers.kan._closed_form import ClosedForm, closed_form_activation
from kanlab.layers.kan._compile import Kernel, use_compiled
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.registry import ACTIVATIONS, LAYERS, ActivationSpec

__all__ = ["FastKANLinear"]

ActSpec = ActivationSpec


@LAYERS.register("fast_kan", kind="linear")
class FastKANLinear(KANLinearBase):
    """KAN layer whose per-input basis is a row of Gaussian bumps (RBF), plus a base branch.

    Li, "Kolmogorov-Arnold Networks are Radial Basis Function Networks", arXiv:2405.06721
    (ZiyaoLi/fast-kan).

        phi_m(z) = exp(-((z - u_m) / h)^2)
        u = linspace(low, high, G),  h = (high - low) / (G - 1)
        z = LayerNorm(x) if ``use_layernorm`` else x
        y_o = sum_{i, m} W_s[o, i, m] * phi_m(z_i)  +  sum_i W_b[o, i] * b(x_i) + c_o

    with G = ``grid_size`` (number of centres; for G = 1, h = high - low), (low, high) =
    ``grid_range``, b = ``base_activation`` applied to the raw x, W_s = ``spline_weight``,
    W_b, c = ``base_weight``, ``base_bias``.

    Shapes: (*, in_features) -> (*, out_features); ``basis(x)``: (B, in_features, G).

    Deviations from fast-kan (``fastkan/fastkan.py``): the base branch is any registered
    activation (``None`` removes it, like ``use_base_update=False``); the centres are a buffer
    rather than a frozen parameter (same values, not counted as parameters). A LayerNorm over
    a single input is constant; fast-kan#7 — pass ``use_layernorm=False`` for D = 1.
    Computation: both branches are one matmul, ``[b(x) | phi(z)] @ [W_b | W_s]^T + c``, in one
    autograd node whose features kernel (basis-major, analytic backward) ``torch.compile``
    fuses for large calls (``compile_kernels``, as in ``b_spline_kan``); same values as the
    formula above.

    Args:
        in_features: Input width D.
        out_features: Output width O.
        grid_size: Number of RBF centres G (>= 1; All-KAN passes G + K = 8).
        grid_range: ``(low, high)`` of the first and last centre.
        use_layernorm: Normalise x (LayerNorm over the inputs) before the basis.
        base_activation: Activation spec of the base branch; ``None`` drops it.
        spline_weight_init_scale: Std of the truncated-normal init of ``spline_weight``.
        chunk_size: Rows processed at once; ``None`` = automatic (256 MiB of basis).
        compile_kernels: Run the fused kernels through ``torch.compile``: ``None`` (default)
            once a call has >= 2^21 basis entries, ``True`` always, ``False`` never; falls
            back to eager with a warning. ``KANLAB_COMPILE=0|1`` overrides it.
        device: Factory kwarg for parameters and buffers.
        dtype: Factory kwarg for parameters and buffers.

    Raises:
        ValueError: for ``grid_size < 1``, a bad ``grid_range``, an unknown
            ``base_activation``, ``chunk_size < 1``, or (in ``forward``) a wrong input last dim.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 8,
        grid_range: Sequence[float] = (-2.0, 2.0),
        use_layernorm: bool = True,
        base_activation: ActSpec | None = "silu",
        spline_weight_init_scale: float = 0.1,
        chunk_size: int | None = None,
        compile_kernels: bool | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_at_least("grid_size", grid_size, 1)
        low, high = check_range("grid_range", grid_range)
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.grid_size, self.grid_range = grid_size, (low, high)
        self.num_bases = grid_size
        self.init_scale = spline_weight_init_scale
        self.inv_width = (grid_size - 1) / (high - low) if grid_size > 1 else 1 / (high - low)
        self.register_buffer("centers", torch.linspace(low, high, grid_size, **dd))  # (G,)
        self.norm = nn.LayerNorm(in_features, **dd) if use_layernorm else None
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features * grid_size, **dd))
        self.base_activation = (
            None if base_activation is None else ACTIVATIONS.build(base_activation)
        )
        self.base = (
            nn.Linear(in_features, out_features, **dd) if base_activation is not None else None
        )
        self._base_form = (  # evaluated inside the features kernel when it has a closed form
            None if self.base_activation is None else closed_form_activation(self.base_activation)
        )
        self.compile_kernels = compile_kernels
        self.reset_parameters()

    centers: Tensor

    def reset_parameters(self) -> None:
        """Truncated-normal spline weights (std ``spline_weight_init_scale``), default base."""
        nn.init.trunc_normal_(self.spline_weight, std=self.init_scale)
        if self.norm is not None:
            self.norm.reset_parameters()
        if self.base is not None:
            self.base.reset_parameters()

    def basis(self, x: Tensor) -> Tensor:
        """Gaussian bumps ``(B, in_features, G)`` of (normalised) inputs ``(*, in_features)``."""
        check_in_features(x, self.in_features)
        return self._rbf(x.reshape(-1, self.in_features))

    def _rbf(self, x: Tensor) -> Tensor:
        z = self.norm(x) if self.norm is not None else x                 # (B, D)
        dist = (z.unsqueeze(-1) - self.centers) * self.inv_width         # (B, D, G)
        return torch.exp(-dist.square())

    def forward_rows(self, x: Tensor) -> Tensor:
        """The layer on a ``(n, in_features)`` block -> ``(n, out_features)``."""
        z = self.norm(x) if self.norm is not None else x                # (n, D)
        base: Tensor | ClosedForm | None = None
        base_weight = bias = None
        if self.base is not None and self.base_activation is not None:
            base = self._base_form or self.base_activation(x)
            base_weight, bias = self.base.weight, self.base.bias
        spline = self.spline_weight.view(self.out_features, self.in_features, self.grid_size)
        compiled = use_compiled(self.compile_kernels, x.numel() * self.num_bases)
        out = RBFLinear.apply(
            z, x, base if isinstance(base, Tensor) else None, base_weight, spline, bias,
            self.centers, base if isinstance(base, ClosedForm) else None, self.inv_width,
            compiled,
        )
        assert isinstance(out, Tensor)
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, grid_size={self.grid_size}, "
            f"grid_range={self.grid_range}, use_layernorm={self.norm is not None}"
        )



# -- fused kernels --------------------------------------------------------------------------------


def _features(
    z: Tensor,
    x: Tensor,
    base: Tensor | None,
    centers: Tensor,
    *,
    form: ClosedForm | None,
    inv_width: float,
) -> Tensor:
    """``[b(x) | phi_0(z) | .. | phi_{G-1}(z)]``, basis-major: ``(N, (1+G) * D)``."""
    if form is not None:
        base = form.value(x)                                             # (N, D)
    slices = [  # G x (N, D)
        torch.exp(-((z - centers[j]) * inv_width).square()) for j in range(centers.shape[0])
    ]
    if base is not None:
        slices.insert(0, base)
    return torch.stack(slices, 1).reshape(z.shape[0], -1)


def _grads(
    z: Tensor,
    x: Tensor,
    grad: Tensor,
    centers: Tensor,
    *,
    form: ClosedForm | None,
    inv_width: float,
    lead: int,
) -> tuple[Tensor, Tensor | None]:
    """Gradients of z and (through a closed-form base) x from that of the features."""
    g = grad.view(z.shape[0], lead + centers.shape[0], z.shape[1])      # (N, 1+G, D)
    grad_z = torch.zeros_like(z)
    for j in range(centers.shape[0]):
        d = (z - centers[j]) * inv_width                                # (N, D)
        grad_z = grad_z + g[:, lead + j] * torch.exp(-d.square()) * (-2 * inv_width) * d
    grad_x = form.backward(g[:, 0], x, form.value(x)) if form is not None and lead else None
    return grad_z, grad_x


_FEATURES = Kernel(_features)
_GRADS = Kernel(_grads)


class RBFLinear(torch.autograd.Function):
    """``[b(x) | phi(z)] @ [W_b | W_s]^T + c`` in one autograd node (see ``_basis_weight.py``).

    ``base`` holds the base-branch values (any activation, on autograd outside) or ``form`` its
    closed form (evaluated in the kernel); with neither, and ``base_weight`` None, there is no
    base branch. The weight gradients come from :func:`weight_grads`; the input gradients
    recompute the bumps from the saved ``z``.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        z: Tensor,
        x: Tensor,
        base: Tensor | None,
        base_weight: Tensor | None,
        spline: Tensor,
        bias: Tensor | None,
        centers: Tensor,
        form: ClosedForm | None,
        inv_width: float,
        compiled: bool,
    ) -> Tensor:
        feats = _FEATURES(
            z, x, base, centers, compiled=compiled, form=form, inv_width=inv_width
        )                                                                # (N, (1+G)*D)
        weight = WEIGHT(base_weight, spline, None, compiled=compiled)   # (O, (1+G)*D)
        ctx.save_for_backward(z, x, feats, weight, spline, centers)
        ctx.opts = (base_weight is not None, form, inv_width, compiled)  # type: ignore[attr-defined]
        return F.linear(feats, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        z, x, feats, weight, spline, centers = ctx.saved_tensors  # type: ignore[attr-defined]
        has_base, form, inv_width, compiled = ctx.opts  # type: ignore[attr-defined]
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        lead, d = int(has_base), z.shape[1]
        grad_z = grad_x = grad_base = grad_base_weight = grad_spline = grad_bias = None
        if need[0] or need[1] or need[2]:
            grad_feats = grad @ weight                                   # (N, (1+G)*D)
            if need[2]:
                grad_base = grad_feats[:, :d]
            if need[0] or (need[1] and form is not None):
                grad_z, grad_x = _GRADS(
                    z, x, grad_feats, centers, compiled=compiled, form=form,
                    inv_width=inv_width, lead=lead,
                )
        if need[3] or need[4]:
            grad_base_weight, grad_spline, _ = weight_grads(
                grad, feats, spline, None, lead=lead, need_base=need[3], need_spline=need[4],
                compiled=compiled,
            )
        if need[5]:
            grad_bias = grad.sum(0)
        return (
            grad_z if need[0] else None, grad_x if need[1] else None, grad_base,
            grad_base_weight, grad_spline, grad_bias, None, None, None, None,
        )
