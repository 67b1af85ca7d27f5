"""Symbolic export: activation formulas and fitted KAN edges as sympy expressions.

A KAN layer computes ``y_o = sum_i phi_oi(x_i) + c_o``. :func:`edge_curves` samples every edge
function ``phi_oi`` by evaluating the layer on inputs where only ``x_i`` varies (the others at
0), so it works for any additive layer without knowing its basis. :func:`fit_function` then
finds the closest expression from a function library:

    simple:  y ~ a * f(x) + d                    (complexity of f)
    affine:  y ~ a * f(b * x + c) + d            (complexity of f + 1)

with ``f`` in x, x^2, x^3, x^4, exp, sin, tanh, log, sqrt, abs, 1/x, gaussian. ``a`` and ``d`` are
least-squares optimal for each ``(b, c)``, which come from a coarse-to-fine grid search. The
winner has the highest R^2, except that a simpler candidate within ``tol`` of the best R^2 is
preferred (complexity tie-break). :func:`layer_formulas` sums the fitted edges per output.

Layers that are not additive over inputs (a norm inside the layer, attention across inputs)
are sampled the same way; the curves are then only the response around x = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sympy
import torch
from torch import nn

from kanlab.capabilities import HasBasis

__all__ = [
    "LIBRARY",
    "X",
    "EdgeFit",
    "LibFunction",
    "activation_formulas",
    "edge_curves",
    "fit_candidates",
    "fit_function",
    "kan_layers",
    "layer_formulas",
    "symbolic_report",
    "tidy_constants",
    "to_latex",
]

X = sympy.Symbol("x", real=True)


@dataclass(frozen=True)
class LibFunction:
    """One library entry: torch and sympy forms, complexity and the affine-inner flag."""

    name: str
    torch_fn: Callable[[torch.Tensor], torch.Tensor]
    sympy_fn: Callable[[sympy.Expr], sympy.Expr]
    complexity: int
    affine: bool = True  # also try f(b*x + c)


def _safe_log(z: torch.Tensor) -> torch.Tensor:
    return torch.where(z > 0, torch.log(z.clamp_min(1e-300)), torch.full_like(z, math.nan))


def _safe_sqrt(z: torch.Tensor) -> torch.Tensor:
    return torch.where(z >= 0, torch.sqrt(z.clamp_min(0)), torch.full_like(z, math.nan))


def _safe_inv(z: torch.Tensor) -> torch.Tensor:
    return torch.where(z.abs() > 1e-3, 1 / z, torch.full_like(z, math.nan))


LIBRARY: dict[str, LibFunction] = {
    f.name: f
    for f in (
        LibFunction("x", lambda z: z, lambda e: e, 1, affine=False),
        LibFunction("x^2", torch.square, lambda e: e**2, 2),
        LibFunction("x^3", lambda z: z**3, lambda e: e**3, 3),
        LibFunction("x^4", lambda z: z**4, lambda e: e**4, 4),
        LibFunction("exp", torch.exp, sympy.exp, 2),
        LibFunction("sin", torch.sin, sympy.sin, 2),
        LibFunction("tanh", torch.tanh, sympy.tanh, 3),
        LibFunction("log", _safe_log, sympy.log, 3),
        LibFunction("sqrt", _safe_sqrt, sympy.sqrt, 2),
        LibFunction("abs", torch.abs, sympy.Abs, 2),
        LibFunction("1/x", _safe_inv, lambda e: 1 / e, 2),
        LibFunction("gaussian", lambda z: torch.exp(-z.square()), lambda e: sympy.exp(-(e**2)), 3),
    )
}


@dataclass(frozen=True)
class EdgeFit:
    """A fitted expression ``a * f(b * x + c) + d`` with its R^2 and complexity."""

    function: str
    a: float
    b: float
    c: float
    d: float
    r2: float
    complexity: int
    affine: bool = False
    digits: int = field(default=4, compare=False)

    def expr(self, x: sympy.Symbol = X) -> sympy.Expr:
        """The fit as a sympy expression in ``x`` (coefficients rounded to ``digits``)."""
        if self.function == "0":
            return _num(self.d, self.digits)
        inner: sympy.Expr = x
        if self.affine:
            inner = _num(self.b, self.digits) * x + _num(self.c, self.digits)
        f = LIBRARY[self.function].sympy_fn(inner)
        return _num(self.a, self.digits) * f + _num(self.d, self.digits)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.function == "0":
            return torch.full_like(x, self.d)
        z = self.b * x + self.c if self.affine else x
        return self.a * LIBRARY[self.function].torch_fn(z) + self.d


def _num(v: float, digits: int) -> sympy.Expr:
    if abs(v) < 1e-10:  # numerical zero
        return sympy.Integer(0)
    rounded = float(f"{v:.{digits}g}")
    if rounded == int(rounded) and abs(rounded) < 1e6:
        return sympy.Integer(int(rounded))
    return sympy.Float(rounded, digits)


def _linear_fit(
    feats: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least squares ``y ~ a * feats + d`` for each row of ``feats`` (G, N); NaN rows -> R^2 -inf.

    Returns a, d and R^2, each of shape (G,).
    """
    ok = ~torch.isnan(feats).any(dim=1) & ~torch.isinf(feats).any(dim=1)  # (G,)
    f = torch.where(ok[:, None], feats, torch.zeros_like(feats))         # (G, N)
    fm = f.mean(dim=1, keepdim=True)                                     # (G, 1)
    ym = y.mean()
    fc, yc = f - fm, y - ym                                              # (G, N), (N,)
    var = fc.square().sum(dim=1)                                         # (G,)
    cov = (fc * yc).sum(dim=1)                                           # (G,)
    syy = yc.square().sum()
    a = torch.where(var > 1e-12, cov / var.clamp_min(1e-300), torch.zeros_like(var))
    d = ym - a * fm.squeeze(1)
    sse = (yc - a[:, None] * fc).square().sum(dim=1)                     # (G,)
    r2 = 1 - sse / syy if syy > 0 else torch.ones_like(sse)
    r2 = torch.where(ok & (var > 1e-12), r2, torch.full_like(r2, -math.inf))
    return a, d, r2


def _fit_one(
    fn: LibFunction, x: torch.Tensor, y: torch.Tensor, b_range: float, grid: int, zooms: int
) -> list[EdgeFit]:
    out = []
    a, d, r2 = _linear_fit(fn.torch_fn(x)[None], y)
    if math.isfinite(r2.item()):
        out.append(EdgeFit(fn.name, a.item(), 1.0, 0.0, d.item(), r2.item(), fn.complexity))
    if not fn.affine:
        return out
    span = float(x.abs().max().clamp_min(1e-6))
    step = max(1, x.numel() // 50)
    xs, ys = x[::step], y[::step]                                        # search on <= ~50 points
    b_lo, b_hi = -b_range, b_range
    c_lo, c_hi = -b_range * span, b_range * span
    best: tuple[float, float, float, float, float] | None = None
    for _ in range(zooms):  # coarse-to-fine zoom around the best (b, c)
        bs = torch.linspace(b_lo, b_hi, grid, dtype=x.dtype, device=x.device)
        cs = torch.linspace(c_lo, c_hi, grid, dtype=x.dtype, device=x.device)
        bb, cc = torch.meshgrid(bs, cs, indexing="ij")                   # (grid, grid)
        z = bb.reshape(-1, 1) * xs + cc.reshape(-1, 1)                   # (grid^2, n)
        _, _, r2 = _linear_fit(fn.torch_fn(z), ys)
        i = int(torch.argmax(r2))
        if not math.isfinite(r2[i].item()):
            break
        b_i, c_i = bb.reshape(-1)[i].item(), cc.reshape(-1)[i].item()
        a, d, r2_full = _linear_fit(fn.torch_fn(b_i * x + c_i)[None], y)  # on all points
        if best is None or r2_full.item() >= best[0]:
            best = (r2_full.item(), b_i, c_i, a.item(), d.item())
        db, dc = (b_hi - b_lo) / (grid - 1), (c_hi - c_lo) / (grid - 1)
        b_lo, b_hi = best[1] - 2 * db, best[1] + 2 * db
        c_lo, c_hi = best[2] - 2 * dc, best[2] + 2 * dc
    if best is not None:
        r, b, c, a_, d_ = best
        out.append(EdgeFit(fn.name, a_, b, c, d_, r, fn.complexity + 1, affine=True))
    return out


def _canonical(name: str, a: float, b: float, c: float) -> tuple[float, float, float]:
    """One representative of equivalent fits: b > 0 (symmetries), for sin also a > 0."""
    if name == "sin":
        if b < 0:  # sin(b x + c) = sin(-b x + pi - c)
            b, c = -b, math.pi - c
        if a < 0:  # -a sin(z) = a sin(z + pi)
            a, c = -a, c + math.pi
        return a, b, math.remainder(c, 2 * math.pi)
    if b < 0 and name in ("x^3", "tanh", "1/x"):  # odd
        return -a, -b, -c
    if b < 0 and name in ("x^2", "x^4", "abs", "gaussian"):  # even
        return a, -b, -c
    return a, b, c


def _refine(fit: EdgeFit, x: torch.Tensor, y: torch.Tensor) -> EdgeFit:
    """Polish ``(a, b, c, d)`` of a grid-searched fit with Levenberg-Marquardt (scipy)."""
    import numpy as np
    from scipy.optimize import least_squares

    fn = LIBRARY[fit.function]
    r2_0, b0, c0, a0, d0 = fit.r2, fit.b, fit.c, fit.a, fit.d
    xn, yn = x.numpy(), y.numpy()

    def residual(p: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(p[1] * xn + p[2])
        return np.asarray(p[0] * fn.torch_fn(z).numpy() + p[3] - yn)

    try:
        sol = least_squares(residual, np.array([a0, b0, c0, d0]), method="lm", max_nfev=100)
    except ValueError:  # non-finite residuals (outside the domain of log/sqrt/1/x)
        return fit
    res = residual(sol.x)
    syy = float(((yn - yn.mean()) ** 2).sum())
    r2 = 1 - float((res**2).sum()) / syy if syy > 0 else 1.0
    if not math.isfinite(r2) or r2 < r2_0:
        return fit
    a, b, c, d = (float(v) for v in sol.x)
    return replace(fit, a=a, b=b, c=c, d=d, r2=r2)


def fit_candidates(
    x: torch.Tensor | Sequence[float],
    y: torch.Tensor | Sequence[float],
    *,
    library: Sequence[str] | None = None,
    b_range: float = 5.0,
    grid: int = 17,
    zooms: int = 4,
    refine: int = 3,
) -> list[EdgeFit]:
    """Every library fit of ``y(x)``, best R^2 first (ties: simpler first).

    Args:
        x: Sample points, shape (N,).
        y: Values, shape (N,).
        library: Names from :data:`LIBRARY` to try (default all).
        b_range: Search ``b`` in ``[-b_range, b_range]`` and ``c`` in ``b_range * max|x|``.
        grid: Grid points per axis and zoom level.
        zooms: Zoom levels of the (b, c) search.
        refine: Polish this many of the best affine fits with Levenberg-Marquardt.

    Raises:
        ValueError: for mismatched shapes, fewer than 3 points, or an unknown library name.
    """
    xt = torch.as_tensor(x, dtype=torch.float64).detach().reshape(-1).cpu()
    yt = torch.as_tensor(y, dtype=torch.float64).detach().reshape(-1).cpu()
    if xt.shape != yt.shape or xt.numel() < 3:
        raise ValueError(
            "`x` and `y` must have the same length >= 3, "
            f"but got x.shape={tuple(xt.shape)}, y.shape={tuple(yt.shape)}."
        )
    names = list(library) if library is not None else list(LIBRARY)
    for name in names:
        if name not in LIBRARY:
            from kanlab.registry import suggest

            raise ValueError(
                f"`library` entries must be in {', '.join(LIBRARY)}, but got {name!r}."
                f"{suggest(name, list(LIBRARY))}"
            )
    fits = [EdgeFit("0", 0.0, 0.0, 0.0, yt.mean().item(), 0.0, 0)]
    for name in names:
        fits.extend(_fit_one(LIBRARY[name], xt, yt, b_range, grid, zooms))
    fits.sort(key=lambda f: (-f.r2, f.complexity, f.function))
    top = [i for i, f in enumerate(fits) if f.affine][:refine]
    for i in top:
        fits[i] = _refine(fits[i], xt, yt)
    for i, f in enumerate(fits):
        if f.affine:
            a, b, c = _canonical(f.function, f.a, f.b, f.c)
            fits[i] = replace(f, a=a, b=b, c=c)
    return sorted(fits, key=lambda f: (-f.r2, f.complexity, f.function))


def fit_function(
    x: torch.Tensor | Sequence[float],
    y: torch.Tensor | Sequence[float],
    *,
    library: Sequence[str] | None = None,
    tol: float = 1e-4,
    **kwargs: Any,
) -> EdgeFit:
    """The best library expression for ``y(x)``: highest R^2, simplest within ``tol`` of it."""
    fits = fit_candidates(x, y, library=library, **kwargs)
    best = fits[0].r2
    close = [f for f in fits if f.r2 >= best - tol]
    return min(close, key=lambda f: (f.complexity, -f.r2, f.function))


# --------------------------------------------------------------------------- layers


def _features(layer: nn.Module) -> tuple[int, int]:
    """``(in_features, out_features)`` of a linear-kind layer."""
    sizes = {key: getattr(layer, key) for key in ("in_features", "out_features")}
    return int(sizes["in_features"]), int(sizes["out_features"])


def _param_like(module: nn.Module) -> torch.Tensor:
    for p in module.parameters():
        return p
    for b in module.buffers():
        return b
    return torch.empty(0)


@torch.no_grad()
def edge_curves(
    layer: nn.Module, x_range: tuple[float, float] = (-1.0, 1.0), n: int = 101
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample every edge ``phi_oi`` of a ``(*, I) -> (*, O)`` layer on ``n`` points.

    Returns ``xs`` (n,), ``phi`` (O, I, n) with ``phi[o, i] = y_o(x e_i) - y_o(0)`` and the
    constant ``y(0)`` (O,). Evaluated in eval mode (no batch statistics), restored afterwards.
    """
    in_features, _ = _features(layer)
    ref = _param_like(layer)
    dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
    xs = torch.linspace(x_range[0], x_range[1], n, dtype=dtype, device=ref.device)  # (n,)
    was_training = layer.training
    layer.eval()
    try:
        inputs = torch.zeros(in_features, n, in_features, dtype=dtype, device=ref.device)
        idx = torch.arange(in_features, device=ref.device)
        inputs[idx, :, idx] = xs                                         # (I, n, I): x on input i
        y = layer(inputs.reshape(-1, in_features))                       # (I*n, O)
        y = y.reshape(in_features, n, -1)                                # (I, n, O)
        y0 = layer(torch.zeros(1, in_features, dtype=dtype, device=ref.device))[0]  # (O,)
    finally:
        layer.train(was_training)
    phi = (y - y0).permute(2, 0, 1)                                      # (O, I, n)
    return xs.cpu().double(), phi.cpu().double(), y0.cpu().double()


def layer_formulas(
    layer: nn.Module,
    *,
    x_range: tuple[float, float] = (-1.0, 1.0),
    n: int = 101,
    library: Sequence[str] | None = None,
    threshold: float = 1e-2,
    tol: float = 1e-4,
    symbols: Sequence[sympy.Symbol] | None = None,
) -> tuple[list[sympy.Expr], dict[tuple[int, int], EdgeFit]]:
    """Whole-layer formulas ``y_o = sum_i fit_oi(x_i) + c_o``, one per output.

    Edges whose sampled range is below ``threshold`` times the largest edge range count as 0,
    and so do constants below 1e-6 times that range (float32 rounding of the samples).
    Returns the formulas and the fits by ``(o, i)``. Inputs are the symbols ``x_0, x_1, ...``
    (0-based, like module names and tensor indices) unless ``symbols`` are given.
    """
    xs, phi, y0 = edge_curves(layer, x_range, n)
    out_features, in_features, _ = phi.shape
    syms = list(symbols) if symbols is not None else [
        sympy.Symbol(f"x_{i}", real=True) for i in range(in_features)
    ]
    amp = phi.amax(dim=2) - phi.amin(dim=2)                              # (O, I)
    cutoff = threshold * float(amp.max()) if amp.numel() else 0.0
    fits: dict[tuple[int, int], EdgeFit] = {}
    formulas = []
    for o in range(out_features):
        total: sympy.Expr = sympy.Integer(0)
        const = float(y0[o])
        for i in range(in_features):
            if float(amp[o, i]) <= cutoff:
                continue
            fit = fit_function(xs, phi[o, i], library=library, tol=tol)
            fits[(o, i)] = fit
            total += fit.expr(syms[i])
        formula = sympy.expand(total) + _num(const, 4)
        noise = 1e-6 * float(amp.max()) if amp.numel() else 0.0
        formulas.append(formula.xreplace({f: sympy.Integer(0) for f in formula.atoms(sympy.Float)
                                          if abs(float(f)) < noise}))
    return formulas, fits


def kan_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Outermost sub-modules that look like KAN layers.

    A KAN layer has ``in_features``/``out_features`` and ``basis()`` (or ``candidates``, as
    S-KAN); layers nested inside one already found (S-KAN candidates) are skipped.
    """
    out: list[tuple[str, nn.Module]] = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) or any(name.startswith(f"{n}.") for n, _ in out):
            continue
        looks = isinstance(m, HasBasis) or hasattr(m, "candidates")
        if looks and hasattr(m, "in_features") and hasattr(m, "out_features"):
            out.append((name or type(m).__name__, m))
    return out


def activation_formulas(model: nn.Module) -> dict[str, sympy.Expr]:
    """``.sympy()`` of every elementwise activation module inside ``model`` (or ``model``).

    Constants are rounded by :func:`tidy_constants` (learnt float32 parameters print as
    ``0.005``, not ``0.00499999988824129``).
    """
    out: dict[str, sympy.Expr] = {}
    for name, m in model.named_modules():
        fn = getattr(m, "sympy", None)
        if callable(fn):
            try:
                out[name or type(m).__name__] = tidy_constants(fn())
            except (TypeError, NotImplementedError):
                continue
    return out


def tidy_constants(expr: sympy.Expr, digits: int = 6) -> sympy.Expr:
    """``expr`` with every float constant rounded to ``digits`` significant digits.

    Learnt float32 parameters come out of torch as float64 numbers carrying float32's rounding
    error (``0.00499999988824129`` for 0.005); rounded, they print as the value that was set or
    learnt, and whole numbers as integers. Exact symbols (``sqrt(2)``, ``pi``) stay as they are.
    """
    swaps = {atom: _num(float(atom), digits) for atom in expr.atoms(sympy.Float)
             if math.isfinite(float(atom))}
    return expr.xreplace(swaps) if swaps else expr


def to_latex(expr: sympy.Expr) -> str:
    """LaTeX of an expression (sympy's printer)."""
    return str(sympy.latex(expr))


def symbolic_report(
    model: nn.Module,
    *,
    x_range: tuple[float, float] | None = None,
    max_edges: int = 16,
    latex: bool = False,
    library: Sequence[str] | None = None,
) -> str:
    """Plain-text report: activation formulas, then per KAN layer its strongest edges' fits.

    Layers with at most ``max_edges`` edges get whole-layer formulas; larger ones list the
    ``max_edges`` edges with the largest range. Inputs, outputs and edges are numbered from 0
    (``x_0``, ``y_0``, ``phi[o,i]``), as module names and tensor indices are.
    """
    show: Callable[[sympy.Expr], str] = to_latex if latex else str
    lines: list[str] = []
    acts = activation_formulas(model)
    if acts:
        lines.append("Activations:")
        lines.extend(f"  {name}: {show(expr)}" for name, expr in acts.items())
    for name, layer in kan_layers(model):
        rng = x_range or _grid_range(layer)
        in_f, out_f = _features(layer)
        lines.append(f"KAN layer {name} ({in_f} -> {out_f}), x in [{rng[0]:g}, {rng[1]:g}]:")
        if in_f * out_f <= max_edges:
            formulas, fits = layer_formulas(layer, x_range=rng, library=library)
            for o, f in enumerate(formulas):
                lines.append(f"  y_{o} = {show(f)}")
            r2 = [fit.r2 for fit in fits.values()]
            if r2:
                lines.append(f"  (edge R^2: min {min(r2):.4f}, mean {sum(r2) / len(r2):.4f})")
            continue
        xs, phi, _ = edge_curves(layer, rng, 101)
        amp = (phi.amax(dim=2) - phi.amin(dim=2)).reshape(-1)            # (O*I,)
        top = torch.argsort(amp, descending=True)[:max_edges].tolist()
        for flat in top:
            o, i = divmod(flat, in_f)
            fit = fit_function(xs, phi[o, i], library=library)
            sym = sympy.Symbol(f"x_{i}", real=True)
            lines.append(f"  phi[{o},{i}](x_{i}) = {show(fit.expr(sym))}   (R^2 {fit.r2:.4f})")
    if not lines:
        lines.append("No elementwise activations or KAN layers found.")
    return "\n".join(lines)


def _grid_range(layer: nn.Module) -> tuple[float, float]:
    rng = getattr(layer, "grid_range", None)
    if isinstance(rng, Mapping):
        return (-1.0, 1.0)
    try:
        lo, hi = (float(v) for v in rng)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return (-1.0, 1.0)
    return (lo, hi)
