"""EAFO: the entropy-based first-order correction of any monotone activation."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import sympy
import torch
from torch import nn

from kanlab.layers.activations._base import Activation, X, check_finite, const
from kanlab.layers.activations._sympy_torch import TorchFunction
from kanlab.registry import ACTIVATIONS

__all__ = ["EAFO", "EPS", "MU", "SIGMA", "Derivation", "derive"]

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

    Args:
        base: Elementwise activation key, ``{name: ..., **hp}`` spec or class (default
            softplus).
        eps: Initial correction coefficient (finite, negative allowed; sign as in the formula).
        momentum: Running-statistics momentum in [0, 1] (0.1 as BatchNorm).
        inplace: Accepted for timm's ``act_layer`` and ignored.
        device: Factory kwarg for ``eps`` and the running buffers.
        dtype: Factory kwarg for ``eps`` and the running buffers.

    Raises:
        ValueError: for an unknown base (with a suggestion), a non-elementwise or non-monotone
            base, a non-finite ``eps`` or ``momentum`` outside [0, 1].
    """

    def __init__(
        self,
        *,
        base: BaseSpec = "softplus",
        eps: float = 0.01,
        momentum: float = 0.1,
        inplace: bool = False,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(inplace=inplace)
        check_finite("eps", eps)
        check_finite("momentum", momentum)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"`momentum` must be in [0, 1], but got momentum={momentum!r}.")
        dd: dict[str, Any] = {"device": device, "dtype": dtype}
        self.base_spec = base
        self.base = _build_base(base)
        self.derivation = _derive(_formula(self.base), _label(base))
        ratio = self.derivation.ratio
        self._ratio: TorchFunction | None = None if ratio == 0 else TorchFunction(ratio, X)
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
        if self.training:
            self._update_stats(x)
        mean = self.running_mean.to(x.dtype, copy=True)                     # ()
        std = self.running_var.clamp_min(_VAR_FLOOR).sqrt().to(x.dtype)     # ()
        z = (x - mean) / std                                                # (*)
        density = torch.exp(-0.5 * z.square()) / (std * _SQRT_2PI)          # p(x), (*)
        slope = z / std                                                     # -p'(x) / p(x)
        if self._ratio is not None:
            bound = self.derivation.clamp
            work = torch.promote_types(x.dtype, torch.float32)
            ratio = self._ratio(x.clamp(-bound, bound).to(work)).to(x.dtype)  # f''/f', (*)
            slope = slope + ratio
        base: torch.Tensor = self.base(x)
        return base - self.eps * density * slope

    def _update_stats(self, x: torch.Tensor) -> None:
        n = x.numel()
        if n == 0:
            return
        with torch.no_grad():
            flat = x.detach().to(self.running_mean.dtype)
            var, mean = torch.var_mean(flat, correction=1 if n > 1 else 0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)

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
            raise ValueError(
                f"`--set` keys must be EAFO hyperparameters ({', '.join(sorted(known))}), "
                f"but got {', '.join(unknown)}."
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
