"""EAFO: the entropy-based first-order correction of any monotone activation."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import sympy
import torch
from torch import nn
from torch.nn import functional as F

from kanlab.layers._compile import Kernel, use_compiled
from kanlab.layers.activations import _fused
from kanlab.layers.activations._base import Activation, X, check_bool, check_finite, const
from kanlab.layers.activations._sympy_torch import TorchFunction
from kanlab.layers.activations.elu import ELU
from kanlab.layers.activations.identity import Identity
from kanlab.layers.activations.leaky_relu import LeakyReLU
from kanlab.layers.activations.relu import ReLU
from kanlab.layers.activations.sigmoid import Sigmoid
from kanlab.layers.activations.softplus import Softplus
from kanlab.layers.activations.tanh import Tanh
from kanlab.registry import ACTIVATIONS, closest

__all__ = ["EAFO", "EPS", "MU", "SIGMA", "ClosedBase", "Derivation", "closed_base", "derive"]

EPS = sympy.Symbol("epsilon", real=True)
MU = sympy.Symbol("mu", real=True)
SIGMA = sympy.Symbol("sigma", positive=True)

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_VAR_FLOOR = 1e-12                      # keeps sigma > 0 without shifting unit variance
_CLAMP_CANDIDATES = (80.0, 40.0, 20.0, 10.0)
_MONOTONE_GRID = (-20.0, 20.0, 8001)
_MONOTONE_TOL = 1e-10

BaseSpec = str | Mapping[str, Any] | type[nn.Module]
Expr: TypeAlias = sympy.Expr


@dataclass(frozen=True)
class Derivation:
    """The symbolic pieces of an EAFO correction for one base activation f.

    Attributes:
        base: f(x).
        d1: f'(x).
        d2: f''(x) (Dirac deltas at kinks dropped: f'' is taken almost everywhere).
        ratio: f''(x) / f'(x), simplified (0 where f is piecewise linear).
        correction: Delta f(x) = epsilon * [p'(x) - p(x) * f''(x) / f'(x)] with
            p = N(mu, sigma^2), in the symbols :data:`EPS`, :data:`MU`, :data:`SIGMA`.
        clamp: Half-width R of the range on which ``ratio`` is evaluated in torch: the
            largest candidate where it and its gradient are finite in float32.
    """

    base: sympy.Expr
    d1: sympy.Expr
    d2: sympy.Expr
    ratio: sympy.Expr
    correction: sympy.Expr
    clamp: float


def _gaussian(x: sympy.Expr) -> sympy.Expr:
    return sympy.exp(-((x - MU) ** 2) / (2 * SIGMA**2)) / (sympy.sqrt(2 * sympy.pi) * SIGMA)


@functools.lru_cache(maxsize=128)
def _derive(f: sympy.Expr, label: str) -> Derivation:
    d1 = sympy.diff(f, X)
    d2 = sympy.diff(d1, X).replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    _check_monotone(d1, label)
    ratio = sympy.simplify(d2 / d1)
    p = _gaussian(X)
    correction = -EPS * p * ((X - MU) / SIGMA**2 + ratio)   # eps * (p' - p * ratio)
    return Derivation(f, d1, d2, ratio, correction, _finite_clamp(ratio, label))


def _check_monotone(d1: sympy.Expr, label: str) -> None:
    """Refuse bases whose derivative is negative somewhere on a wide grid."""
    low, high, n = _MONOTONE_GRID
    grid = torch.linspace(low, high, int(n), dtype=torch.float64)
    slope = TorchFunction(d1, X)(grid)
    slope = torch.where(torch.isfinite(slope), slope, torch.zeros_like(slope))
    worst = int(torch.argmin(slope))
    if slope[worst] < -_MONOTONE_TOL:
        raise ValueError(
            f"`base` must be a non-decreasing activation (f'(x) >= 0 everywhere), but got "
            f"base={label!r} with f'({float(grid[worst]):.3g}) = {float(slope[worst]):.3g} < 0; "
            "the EAFO correction divides by f' and assumes an invertible f (the paper leaves "
            "non-monotone activations such as SiLU, GELU and Mish to future work)."
        )


def _finite_clamp(ratio: sympy.Expr, label: str) -> float:
    """Largest R such that f''/f' and its gradient are finite in float32 on [-R, R]."""
    fn = TorchFunction(ratio, X)
    for bound in _CLAMP_CANDIDATES:
        grid = torch.linspace(-bound, bound, 4001, dtype=torch.float32, requires_grad=True)
        with torch.enable_grad():
            values = fn(grid)
            if not torch.isfinite(values).all():
                continue
            if not values.requires_grad:               # constant ratio
                return bound
            (grad,) = torch.autograd.grad(values.sum(), grid)
        if torch.isfinite(grad).all():
            return bound
    raise ValueError(
        f"`base` must have a finite f''/f' on [-10, 10], but got base={label!r} with "
        f"f''/f' = {ratio}."
    )


def derive(base: BaseSpec | nn.Module = "softplus") -> Derivation:
    """Derive the EAFO correction of ``base`` symbolically (cached per formula).

    Args:
        base: An elementwise activation key, ``{name: ..., **hp}`` spec, class or instance.

    Raises:
        ValueError: for an unknown or non-elementwise base, a base with a negative derivative
            somewhere (SiLU, GELU, Mish), or one whose f''/f' is not finite.
    """
    return _derive(_formula(_build_base(base)), _label(base))


def _formula(module: nn.Module) -> sympy.Expr:
    expr = module.sympy()  # type: ignore[operator]
    assert isinstance(expr, sympy.Expr)
    return expr


def _label(base: BaseSpec | nn.Module) -> str:
    if isinstance(base, str):
        return base
    if isinstance(base, Mapping):
        return str(base.get("name", base))
    return base.__name__ if isinstance(base, type) else type(base).__name__


def _build_base(base: BaseSpec | nn.Module) -> nn.Module:
    if isinstance(base, nn.Module):
        module = base
    else:
        name = base.get("name") if isinstance(base, Mapping) else base
        if isinstance(name, str):
            try:
                entry = ACTIVATIONS.entry(name)
            except ValueError as exc:
                raise ValueError(f"`base`: {exc}") from None
            if not entry.meta.get("elementwise", False):
                raise ValueError(
                    f"`base` must be an elementwise activation, but got base={name!r}."
                )
        module = ACTIVATIONS.build(base)
    if isinstance(module, EAFO):
        raise ValueError(f"`base` must not be an EAFO module, but got base={_label(base)!r}.")
    if not callable(getattr(module, "sympy", None)):
        raise ValueError(
            f"`base` must be an elementwise activation with a sympy() formula, "
            f"but got base={_label(base)!r}."
        )
    if isinstance(module, Activation):
        module.inplace = False           # the correction still needs the original input
    return module


Tensor = torch.Tensor
Unary = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class ClosedBase:
    """A base activation in closed form, for EAFO's fused kernels.

    ``value(x) -> (f, r)`` and ``slopes(x) -> (f', r, r')`` with r = f''/f' and r' = dr/dx
    (``r`` and ``r'`` None where f'' = 0 almost everywhere), written so that each needs one
    transcendental function per element. ``value`` only ever runs without autograd; ``slopes``
    is also the differentiable backward of higher-order gradients, so it avoids forms whose
    autograd derivative overflows (``torch.sigmoid`` rather than ``1 / (1 + exp(-x))``).
    The reference is sympy: tests compare f', r and r' with ``derive(base)``'s d1, ratio and
    its derivative.
    """

    value: Callable[[Tensor], tuple[Tensor, Tensor | None]]
    slopes: Callable[[Tensor], tuple[Tensor, Tensor | None, Tensor | None]]


def _relu() -> ClosedBase:
    return ClosedBase(lambda x: (F.relu(x), None),
                      lambda x: ((x > 0).to(x.dtype), None, None))


def _identity() -> ClosedBase:
    return ClosedBase(lambda x: (x, None), lambda x: (torch.ones_like(x), None, None))


def _leaky_relu(negative_slope: float) -> ClosedBase:
    return ClosedBase(
        lambda x: (F.leaky_relu(x, negative_slope), None),
        lambda x: (torch.where(x > 0, 1.0, torch.full_like(x, negative_slope)), None, None),
    )


def _softplus(beta: float, threshold: float) -> ClosedBase:
    # f = log1p(e^{bx}) / b (x past torch's threshold), f' = s = sigmoid(bx),
    # r = b (1 - s), r' = -b^2 s (1 - s)
    def value(x: Tensor) -> tuple[Tensor, Tensor]:
        # softplus(bx) = max(bx, 0) + log1p(e), e = exp(-|bx|) in (0, 1] (no overflow in any
        # dtype), and log1p(e) = log(u) - ((u - 1) - e) / u with u = 1 + e (Goldberg 1991,
        # "What every computer scientist should know about floating-point arithmetic", Thm 4):
        # as accurate as torch.log1p in float32 and faster on CPU, where log1p is a scalar
        # loop (~8.6 ns per element eager and compiled, torch 2.14) and log vectorises: this
        # value at 6400 x 128, one thread, 1.3 ms compiled against 8.8 with log1p(exp(bx)).
        # 1 - s = 1 / (1 + e^{bx}) = (e if bx > 0 else 1) / u.
        bx = x * beta
        e = torch.exp(-bx.abs())
        u = 1 + e
        soft = bx.clamp_min(0) + (torch.log(u) - ((u - 1) - e) / u)
        return (torch.where(bx > threshold, x, soft / beta),
                beta * torch.where(bx > 0, e, 1.0) / u)

    def slopes(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        bx = x * beta
        s = torch.sigmoid(bx)
        rest = 1 - s
        return torch.where(bx > threshold, 1.0, s), beta * rest, -(beta * beta) * s * rest

    return ClosedBase(value, slopes)


def _tanh() -> ClosedBase:
    # t = 2 sigmoid(2x) - 1 (an exp instead of the costlier vectorised tanh), f' = 1 - t^2,
    # r = -2 t, r' = -2 (1 - t^2)
    def value(x: Tensor) -> tuple[Tensor, Tensor]:
        t = 2 * torch.sigmoid(2 * x) - 1
        return t, -2 * t

    def slopes(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        t = 2 * torch.sigmoid(2 * x) - 1
        d = 1 - t * t
        return d, -2 * t, -2 * d

    return ClosedBase(value, slopes)


def _sigmoid() -> ClosedBase:
    # f' = s (1 - s), r = 1 - 2 s (= -tanh(x / 2)), r' = -2 s (1 - s)
    def value(x: Tensor) -> tuple[Tensor, Tensor]:
        s = torch.sigmoid(x)
        return s, 1 - 2 * s

    def slopes(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = torch.sigmoid(x)
        d = s * (1 - s)
        return d, 1 - 2 * s, -2 * d

    return ClosedBase(value, slopes)


def _elu(alpha: float) -> ClosedBase:
    # f' = 1 (x > 0) or alpha e^x; r = 0 (x > 0) or 1; r' = 0 almost everywhere
    def slopes(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pos = x > 0
        d = torch.where(pos, 1.0, alpha * torch.exp(x.clamp_max(0)))
        return d, torch.where(pos, 0.0, torch.ones_like(x)), torch.zeros_like(x)

    return ClosedBase(lambda x: (F.elu(x, alpha), torch.where(x > 0, 0.0, torch.ones_like(x))),
                      slopes)


# Bases with a closed form, and the attributes that configure them.
_CLOSED_BASES: dict[type[nn.Module], tuple[Callable[..., ClosedBase], tuple[str, ...]]] = {
    ReLU: (_relu, ()),
    Identity: (_identity, ()),
    LeakyReLU: (_leaky_relu, ("negative_slope",)),
    Softplus: (_softplus, ("beta", "threshold")),
    Tanh: (_tanh, ()),
    Sigmoid: (_sigmoid, ()),
    ELU: (_elu, ("alpha",)),
}


def closed_base(module: nn.Module) -> ClosedBase | None:
    """The closed form of a parameter-free base of a class in the table, else None."""
    key = _closed_key(module)
    return None if key is None else _closed(key)


def _closed_key(module: nn.Module) -> tuple[Any, ...] | None:
    """``(class, *hyperparameters)`` of a base with a closed form, else None."""
    found = _CLOSED_BASES.get(type(module))
    if found is None or any(True for _ in module.parameters()):
        return None
    return (type(module), *(getattr(module, name) for name in found[1]))


@functools.lru_cache(maxsize=64)
def _closed(key: tuple[Any, ...]) -> ClosedBase:
    make, _ = _CLOSED_BASES[key[0]]
    return make(*key[1:])


def _clamped(fn: TorchFunction, x: Tensor, bound: float) -> Tensor:
    """``fn(clamp(x, -bound, bound))`` evaluated in at least float32, in x's dtype."""
    work = torch.promote_types(x.dtype, torch.float32)
    return fn(x.clamp(-bound, bound).to(work)).to(x.dtype)


def _corrected(x: Tensor, eps: Tensor, mean: Tensor, std: Tensor, f: Tensor,
               ratio: Tensor | None) -> Tensor:
    """f - eps * p(x) * [(x - mu) / sigma^2 + r(x)] from f = f(x) and r = f''/f'(x)."""
    inv = std.reciprocal()                                              # 1 / sigma, ()
    z = (x - mean) * inv                                                # (*)
    density = torch.exp(-0.5 * z.square()) * (inv / _SQRT_2PI)          # p(x), (*)
    slope = z * inv                                                     # -p'(x) / p(x)
    if ratio is not None:
        slope = slope + ratio
    return f - eps * density * slope


def _fused_value(x: Tensor, eps: Tensor, mean: Tensor, std: Tensor, *,
                 base: ClosedBase) -> Tensor:
    f, ratio = base.value(x)
    return _corrected(x, eps, mean, std, f, ratio)


def _fused_grads(g: Tensor, x: Tensor, eps: Tensor, mean: Tensor, std: Tensor, *,
                 need_eps: bool, base: ClosedBase) -> tuple[Tensor, Tensor | None]:
    """``g * d eafo / dx`` and ``sum(g * d eafo / d eps)`` in closed form.

    With s = (x - mu) / sigma^2 + r(x) and p' = -p * (x - mu) / sigma^2:
    d/dx [f - eps p s] = f' - eps * p * (1 / sigma^2 + r' - (x - mu) / sigma^2 * s).
    """
    slope, ratio, dratio = base.slopes(x)
    inv = std.reciprocal()                                              # 1 / sigma, ()
    z = (x - mean) * inv                                                # (*)
    density = torch.exp(-0.5 * z.square()) * (inv / _SQRT_2PI)          # p(x), (*)
    zs = z * inv                                                        # (x - mu) / sigma^2
    s = zs if ratio is None else zs + ratio
    ds = inv * inv                                                      # ()
    ds_all = ds if dratio is None else ds + dratio                      # () or (*)
    dx = g * (slope - eps * density * (ds_all - zs * s))
    return dx, -(g * density * s).sum() if need_eps else None


@functools.lru_cache(maxsize=64)
def _fused_form(key: tuple[Any, ...]) -> _fused.PointwiseForm:
    """EAFO's fused form for one closed-form base configuration (cached: one per key)."""
    base = _closed(key)
    return _fused.PointwiseForm(
        f"eafo({key[0].__name__})",
        functools.partial(_fused_value, base=base),
        functools.partial(_fused_grads, base=base),
    )


def _shifted_sums(x: Tensor, shift: Tensor) -> tuple[Tensor, Tensor]:
    """sum(x - shift) and sum((x - shift)^2), accumulated in float64: one fused pass compiled."""
    d = x.to(torch.float64) - shift.to(torch.float64)                   # (n,)
    return d.sum(), d.square().sum()


def _shifted_sums_eager(x: Tensor, shift: Tensor) -> tuple[Tensor, Tensor]:
    """The same sums from ``torch.var_mean`` (no float64 copy of x)."""
    var, mean = torch.var_mean(x, correction=0)
    n, dm = x.numel(), mean.to(torch.float64) - shift.to(torch.float64)
    return n * dm, n * (var.to(torch.float64) + dm * dm)


_SHIFTED_SUMS = Kernel(_shifted_sums, eager=_shifted_sums_eager)


def _batch_moments(x: Tensor, shift: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased variance of a flat ``x`` through the compiled sums kernel.

    ``torch.var_mean`` (Welford, one division per element) costs about as much as a whole
    ReLU forward + backward on CPU; two float64 sums shifted by the running mean (close to
    the batch mean, so the difference of squares does not cancel) cost a tenth of it.
    """
    n = x.numel()
    s1, s2 = _SHIFTED_SUMS(x, shift, compiled=True)
    mean = shift.to(torch.float64) + s1 / n
    var = (s2 - s1 * s1 / n).clamp_min(0) / max(n - 1, 1)
    return mean, var


@ACTIVATIONS.register("eafo", elementwise=True)
class EAFO(Activation):
    """Entropy-based correction of a monotone base activation, derived symbolically.

    Sun et al., "A Method on Searching Better Activation Functions" (ICLR 2025 as
    "Entropy-based Activation Function Optimization"), arXiv:2405.12954.

        eafo(x)   = f(x) + eps * [p'(x) - p(x) * f''(x) / f'(x)]
                  = f(x) - eps * p(x) * [(x - mu) / sigma^2 + f''(x) / f'(x)]
        p(x)      = exp(-(x - mu)^2 / (2 sigma^2)) / (sqrt(2 pi) * sigma)

    f is ``base`` (any registered elementwise activation with f' >= 0); f'' / f' is derived
    with sympy from ``base.sympy()`` at construction and compiled to torch ops. mu and sigma^2
    are running statistics of the pre-activations (one scalar pair per module, buffers
    ``running_mean`` / ``running_var`` starting at 0 / 1, updated with ``momentum`` in train
    mode and frozen in eval, like BatchNorm's). For eps > 0 the correction lowers the output
    entropy H(f(X)) = H(X) + E[log f'(X)] to first order when X ~ p. For ReLU f'' / f' = 0
    (taken as 0 on the flat half-line), so the correction is -eps * x * phi(x) under standard
    statistics: ``crrelu(eps) == eafo(relu, eps=-sqrt(2 pi) * eps)``. Shapes: (*) -> (*).
    ``EAFO.derive(base)`` and ``kanlab info eafo --set base=tanh`` show the derivation.

    Deviations: the paper derives the correction in inverse-function space and spells it out
    for ReLU only; this is its x-space first-order form for any monotone base. Batch
    statistics never carry gradient (the running buffers are used in both modes, the train
    step updating them first). f'' / f' is evaluated on x clamped to [-R, R] (R = 80 for the
    standard bases; see :class:`Derivation`) so that exp() cannot overflow; beyond R it is
    constant to float32 precision for the standard bases. ``eps`` is exempt from weight decay
    (``no_weight_decay()``). Learnable base parameters (PReLU's slope) train, but f'' / f' is
    not re-derived when they change. Bases with f' < 0 somewhere (SiLU, GELU, Mish) are refused.

    Speed: for the bases in closed form (:class:`ClosedBase`: relu, softplus, tanh, sigmoid,
    identity, leaky_relu, elu) forward and backward are one fused elementwise pass each, with
    the derivative d/dx [f - eps p s] = f' - eps p (1/sigma^2 + r' - (x - mu)/sigma^2 s),
    s = (x - mu)/sigma^2 + r, r = f''/f', where f', r and r' = dr/dx share one transcendental
    per element (hand-simplified; tests check them against the sympy derivation). It is an
    ``autograd.Function`` that saves only x, ``torch.compile``-d for large inputs (see
    :mod:`kanlab.layers.activations._fused`); train mode adds one reduction pass for the
    statistics (compiled too for large inputs: two float64 sums shifted by the running
    mean). Gradients of any order are exact (a differentiable backward on ``create_graph``);
    other bases, ``torch.func`` transforms and forward-mode AD run the plain autograd
    expression (:meth:`reference`). The fused r is not clamped to [-R, R]: its closed forms
    are finite everywhere (they differ from the clamped one by < 1e-30).

    Args:
        base: Elementwise activation key, ``{name: ..., **hp}`` spec or class (default
            softplus).
        eps: Initial correction coefficient (finite, negative allowed; sign as in the formula).
        momentum: Running-statistics momentum in [0, 1] (0.1 as BatchNorm).
        inplace: Accepted for timm's ``act_layer`` and ignored.
        compile_kernels: ``torch.compile`` the fused kernels: ``None`` (default) from 2^21
            elements on or after about one compilation's worth of eager calls at a shape
            (``KANLAB_COMPILE=0|1``: never / always), ``True`` / ``False`` always / never.
        device: Factory kwarg for ``eps`` and the running buffers.
        dtype: Factory kwarg for ``eps`` and the running buffers.

    Raises:
        ValueError: for an unknown base (with a suggestion), a non-elementwise or non-monotone
            base, a non-finite ``eps``, ``momentum`` outside [0, 1] or a ``compile_kernels``
            that is neither a bool nor None.
    """

    def __init__(
        self,
        *,
        base: BaseSpec = "softplus",
        eps: float = 0.01,
        momentum: float = 0.1,
        inplace: bool = False,
        compile_kernels: bool | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(inplace=inplace)
        check_finite("eps", eps)
        check_finite("momentum", momentum)
        if compile_kernels is not None:
            check_bool("compile_kernels", compile_kernels)
        self.compile_kernels = compile_kernels
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"`momentum` must be in [0, 1], but got momentum={momentum!r}.")
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.base_spec = base
        self.base = _build_base(base)
        self.derivation = _derive(_formula(self.base), _label(base))
        ratio = self.derivation.ratio
        self._ratio: TorchFunction | None = None if ratio == 0 else TorchFunction(ratio, X)
        self._closed = _closed_key(self.base)             # the fused path's base, or None
        self.init_eps = float(eps)
        self.momentum = float(momentum)
        self.eps = nn.Parameter(torch.empty((), **dd))
        self.register_buffer("running_mean", torch.zeros((), **dd))
        self.register_buffer("running_var", torch.ones((), **dd))
        self.reset_parameters()

    running_mean: torch.Tensor
    running_var: torch.Tensor

    def reset_parameters(self) -> None:
        nn.init.constant_(self.eps, self.init_eps)
        self.reset_running_stats()

    def reset_running_stats(self) -> None:
        self.running_mean.zero_()
        self.running_var.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = _fused.fused_allowed()
        compiled = fused and _fused.use_compiled_for(self, x)
        if self.training:
            self._update_stats(x, compiled=compiled)
        mean, std = self._moments(x.dtype)
        if self._closed is None or not fused:
            return self._expression(x, mean, std)
        form = _fused_form(self._closed)
        return _fused.apply(form, x, self.eps, mean, std, compiled=compiled)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` as the plain chain of autograd ops, without the fused kernels.

        Same values and the same running-statistics update; the reference of the tests, and
        what ``torch.func`` transforms and forward-mode AD run.
        """
        if self.training:
            compiled = use_compiled(self.compile_kernels, x.numel()) and _fused.fused_allowed()
            self._update_stats(x, compiled=compiled)
        return self._expression(x, *self._moments(x.dtype))

    def _moments(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Running mean and std as 0-d tensors of ``dtype``."""
        mean = self.running_mean.to(dtype, copy=True)                       # ()
        std = self.running_var.clamp_min(_VAR_FLOOR).sqrt().to(dtype)        # ()
        return mean, std

    def _expression(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        ratio = None if self._ratio is None else _clamped(self._ratio, x, self.derivation.clamp)
        return _corrected(x, self.eps, mean, std, self.base(x), ratio)

    def _update_stats(self, x: torch.Tensor, *, compiled: bool) -> None:
        n = x.numel()
        if n == 0:
            return
        with torch.no_grad():
            flat = x.detach().reshape(-1).to(self.running_mean.dtype)
            if compiled:
                mean, var = _batch_moments(flat, self.running_mean)
            else:
                var, mean = torch.var_mean(flat, correction=1 if n > 1 else 0)
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), self.momentum)
            self.running_var.lerp_(var.to(self.running_var.dtype), self.momentum)

    def sympy(self) -> sympy.Expr:
        """The corrected activation with the current eps, running mean and std."""
        std = self.running_var.clamp_min(_VAR_FLOOR).sqrt()
        values = {EPS: const(self.eps), MU: const(self.running_mean), SIGMA: const(std)}
        return _formula(self.base) + self.derivation.correction.subs(values)

    def formula_latex(self) -> str:
        """LaTeX of f(x) + Delta f(x) with eps, mu, sigma kept as symbols."""
        d = self.derivation
        return str(sympy.latex(d.base + d.correction))

    @classmethod
    def derive(cls, base: BaseSpec | nn.Module = "softplus") -> Expr:
        """Delta f(x) for ``base``, in the symbols x, epsilon, mu, sigma (see :func:`derive`)."""
        return derive(base).correction

    @classmethod
    def info_extra(cls, **hparams: Any) -> str:
        """The derivation for ``base`` (default softplus), as sympy text and LaTeX.

        Raises:
            ValueError: for hyperparameters EAFO does not take, or a refused base.
        """
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(hparams) - known)
        if unknown:
            fixes = [f"{match!r} for {key!r}" for key in unknown
                     if (match := closest(key, sorted(known))) is not None]
            hint = f" Did you mean {', '.join(fixes)}?" if fixes else ""
            raise ValueError(
                f"`--set` keys must be EAFO hyperparameters ({', '.join(sorted(known))}), "
                f"but got {', '.join(repr(key) for key in unknown)}.{hint}"
            )
        base = hparams.get("base", "softplus")
        d = derive(base)
        standard = sympy.simplify(d.correction.subs({MU: 0, SIGMA: 1}))
        lines = [
            f"EAFO derivation for base={_label(base)!r} (sympy):",
            f"  f(x)         = {d.base}",
            f"  f'(x)        = {d.d1}",
            f"  f''(x)       = {d.d2}",
            f"  f''(x)/f'(x) = {d.ratio}",
            f"  Delta f(x)   = {d.correction}",
            f"  with mu=0, sigma=1: Delta f(x) = {standard}",
            "LaTeX:",
            f"  \\frac{{f''(x)}}{{f'(x)}} = {sympy.latex(d.ratio)}",
            f"  \\Delta f(x) = {sympy.latex(d.correction)}",
            f"  \\Delta f(x)\\big|_{{\\mu=0,\\sigma=1}} = {sympy.latex(standard)}",
        ]
        return "\n".join(lines)

    def no_weight_decay(self) -> set[str]:
        """``eps`` is exempt from weight decay."""
        return {"eps"}

    def extra_repr(self) -> str:
        eps = self.init_eps if self.eps.is_meta else float(self.eps.detach().cpu())
        return f"base={_label(self.base_spec)!r}, eps={eps:.4g}, momentum={self.momentum}"
