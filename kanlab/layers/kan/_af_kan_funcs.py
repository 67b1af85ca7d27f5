"""AF-KAN's pair functions ``func(a, b)``, shared by the layer and its fused kernels."""

from __future__ import annotations

from torch import Tensor

__all__ = ["FUNCS", "func_value"]

FUNCS = ("quad1", "quad2", "sum", "prod", "sum_prod", "cubic1", "cubic2")


def func_value(func: str, a: Tensor, b: Tensor) -> Tensor:
    """``func(a, b)`` for one of :data:`FUNCS` (a = act(x - low), b = act(high - x))."""
    if func == "quad1":
        return (a * b).square()
    if func == "quad2":
        return a * b + a.square() + b.square()
    if func == "sum":
        return a + b
    if func == "prod":
        return a * b
    if func == "sum_prod":
        return a + b + a * b
    if func == "cubic1":
        return (a + b) * (a.square() + b.square())
    if func == "cubic2":
        return (a * b) ** 3
    raise ValueError(f"`func` must be one of {', '.join(FUNCS)}, but got func={func!r}.")
