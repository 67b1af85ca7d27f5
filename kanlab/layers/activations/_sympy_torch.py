"""Turn a sympy expression in one variable into a differentiable torch function.

A small printer: the expression tree is compiled once into nested closures over torch ops, so
the result works on any dtype and device and autograd differentiates it like hand-written
code. Supported nodes: numbers and constants (pi, E), the variable, ``+ * **``, exp, log,
sqrt, tanh, sinh, cosh, sin, cos, erf, erfc, Abs, sign, Heaviside, Max, Min and Piecewise with
relational conditions (``< <= > >= == !=``, And, Or, Not). Anything else raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy
import torch

__all__ = ["TorchFunction"]

Value = torch.Tensor | float
Fn = Callable[[torch.Tensor], Value]

_UNARY: dict[type[sympy.Basic], Callable[[torch.Tensor], torch.Tensor]] = {
    sympy.exp: torch.exp,
    sympy.log: torch.log,
    sympy.tanh: torch.tanh,
    sympy.sinh: torch.sinh,
    sympy.cosh: torch.cosh,
    sympy.sin: torch.sin,
    sympy.cos: torch.cos,
    sympy.erf: torch.erf,
    sympy.erfc: torch.erfc,
    sympy.Abs: torch.abs,
    sympy.sign: torch.sign,
}

_RELATIONS: dict[type[sympy.Basic], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    sympy.StrictGreaterThan: torch.gt,
    sympy.GreaterThan: torch.ge,
    sympy.StrictLessThan: torch.lt,
    sympy.LessThan: torch.le,
    sympy.Equality: torch.eq,
    sympy.Unequality: torch.ne,
}


def _tensor(value: Value, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


class TorchFunction:
    """``fn(x)`` evaluating ``expr`` at the tensor ``x`` (elementwise, differentiable).

    Args:
        expr: A sympy expression whose only free symbol is ``symbol``.
        symbol: The variable.

    Raises:
        ValueError: if ``expr`` has other free symbols or a node the printer does not know.
    """

    def __init__(self, expr: sympy.Expr, symbol: sympy.Symbol) -> None:
        extra = expr.free_symbols - {symbol}
        if extra:
            names = ", ".join(sorted(str(s) for s in extra))
            raise ValueError(
                f"`expr` must depend on {symbol} only, but got free symbols {names} in {expr}."
            )
        self.expr = expr
        self.symbol = symbol
        self._fn = self._compile(expr)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self._fn(x)
        if isinstance(out, torch.Tensor) and out.shape == x.shape:
            return out
        return _tensor(out, x).expand_as(x)                     # constant -> x's shape

    def __reduce__(self) -> tuple[Any, ...]:
        return (TorchFunction, (self.expr, self.symbol))      # closures do not pickle

    def __repr__(self) -> str:
        return f"TorchFunction({self.expr})"

    def _compile(self, expr: sympy.Basic) -> Fn:  # noqa: C901  (one branch per node type)
        if expr == self.symbol:
            return lambda x: x
        if expr.is_number:
            value = complex(expr)
            if value.imag != 0:
                raise ValueError(f"Cannot translate the complex constant {expr} to torch.")
            const = value.real
            return lambda x: const
        if isinstance(expr, sympy.Piecewise):
            pieces = [(self._compile(e), self._condition(c)) for e, c in expr.args]
            return lambda x: _piecewise(x, pieces)
        args = [self._compile(a) for a in expr.args]
        if isinstance(expr, sympy.Add):
            return lambda x: _sum(f(x) for f in args)
        if isinstance(expr, sympy.Mul):
            return lambda x: _prod(f(x) for f in args)
        if isinstance(expr, sympy.Pow):
            return self._pow(expr, args[0], args[1])
        for kind, op in _UNARY.items():
            if isinstance(expr, kind):
                (inner,) = args
                return lambda x: op(_tensor(inner(x), x))
        if isinstance(expr, sympy.Heaviside):
            inner = args[0]
            at_zero = float(expr.args[1]) if len(expr.args) > 1 else 0.5
            return lambda x: torch.heaviside(_tensor(inner(x), x), _tensor(at_zero, x))
        if isinstance(expr, (sympy.Max, sympy.Min)):
            binary = torch.maximum if isinstance(expr, sympy.Max) else torch.minimum

            def extreme(x: torch.Tensor) -> torch.Tensor:
                out = _tensor(args[0](x), x)
                for f in args[1:]:
                    out = binary(out, _tensor(f(x), x))
                return out

            return extreme
        raise ValueError(f"Cannot translate {type(expr).__name__} ({expr}) to torch.")

    def _pow(self, expr: sympy.Pow, base: Fn, power: Fn) -> Fn:
        exponent = expr.args[1]
        if exponent == sympy.S.Half:
            return lambda x: torch.sqrt(_tensor(base(x), x))
        if exponent == -1:
            return lambda x: torch.reciprocal(_tensor(base(x), x))
        if exponent.is_number:
            p = float(exponent)
            return lambda x: torch.pow(_tensor(base(x), x), p)
        return lambda x: torch.pow(_tensor(base(x), x), _tensor(power(x), x))

    def _condition(self, cond: sympy.Basic) -> Callable[[torch.Tensor], torch.Tensor]:
        if cond is sympy.true or cond == sympy.true:
            return lambda x: torch.ones_like(x, dtype=torch.bool)
        if cond is sympy.false or cond == sympy.false:
            return lambda x: torch.zeros_like(x, dtype=torch.bool)
        for kind, op in _RELATIONS.items():
            if isinstance(cond, kind):
                lhs, rhs = self._compile(cond.args[0]), self._compile(cond.args[1])
                return lambda x: op(_tensor(lhs(x), x), _tensor(rhs(x), x))
        if isinstance(cond, (sympy.And, sympy.Or)):
            parts = [self._condition(c) for c in cond.args]
            combine = torch.logical_and if isinstance(cond, sympy.And) else torch.logical_or

            def logic(x: torch.Tensor) -> torch.Tensor:
                out = parts[0](x)
                for part in parts[1:]:
                    out = combine(out, part(x))
                return out

            return logic
        if isinstance(cond, sympy.Not):
            inner = self._condition(cond.args[0])
            return lambda x: torch.logical_not(inner(x))
        raise ValueError(f"Cannot translate the condition {cond} to torch.")


def _sum(values: Any) -> Value:
    total: Value = 0.0
    for v in values:
        total = total + v
    return total


def _prod(values: Any) -> Value:
    total: Value = 1.0
    for v in values:
        total = total * v
    return total


def _piecewise(
    x: torch.Tensor, pieces: list[tuple[Fn, Callable[[torch.Tensor], torch.Tensor]]]
) -> torch.Tensor:
    """``torch.where`` chain; the first true condition wins, as in sympy."""
    out = torch.full_like(x, float("nan"))                     # no condition true -> nan
    for value, cond in reversed(pieces):
        out = torch.where(cond(x), _tensor(value(x), x), out)
    return out
