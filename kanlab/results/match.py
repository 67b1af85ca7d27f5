"""Fair-comparison sizing: widen or narrow a baseline until it costs what a given model costs.

``match_model(target, to="params")`` builds ``target`` (a model spec such as
``{name: kan_mlp, widths: [784, 64, 10], layer: fast_kan}``), measures its trainable parameters
or matmul FLOPs per sample, then bisects the baseline's width knob (by default the hidden
entries of an MLP's ``widths``) for the integer width whose cost is closest to that budget.

Example:
    >>> m = match_model({"name": "kan_mlp", "widths": [784, 64, 10],
    ...                  "layer": "fast_kan"}, to="params")  # doctest: +SKIP
    >>> m.spec["widths"], m.cost, m.budget  # doctest: +SKIP
    ([784, 580, 10], 460_990, 459_114)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kanlab.registry import MODELS, suggest

__all__ = ["Match", "count_params", "match_model", "matmul_flops", "model_cost"]

TARGETS = ("params", "flops")


def count_params(model: nn.Module) -> int:
    """Trainable parameters (uses :func:`kanlab.measure.count_params` when present)."""
    try:
        from kanlab.measure import count_params as measured
    except ImportError:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return int(measured(model))


def matmul_flops(model: nn.Module, example_input: torch.Tensor) -> int:
    """Matmul FLOPs per sample of one forward pass (torch's FLOP counter)."""
    try:
        from kanlab.measure import matmul_flops as measured
    except ImportError:
        from torch.utils.flop_counter import FlopCounterMode

        was_training = model.training
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example_input)
        model.train(was_training)
        return int(counter.get_total_flops()) // max(1, example_input.shape[0])
    return int(measured(model, example_input))


def model_cost(
    spec: Mapping[str, Any], to: str, input_shape: Sequence[int] | None = None
) -> int:
    """Build ``spec`` through the model registry and measure ``params`` or ``flops``."""
    _check_target(to)
    model = MODELS.build(dict(spec))
    if to == "params":
        return count_params(model)
    shape = tuple(input_shape) if input_shape else _default_input_shape(spec)
    return matmul_flops(model, torch.zeros(1, *shape))


def _check_target(to: str) -> None:
    if to not in TARGETS:
        raise ValueError(
            f"`to` must be one of {', '.join(TARGETS)}, but got to={to!r}.{suggest(to, TARGETS)}"
        )


def _default_input_shape(spec: Mapping[str, Any]) -> tuple[int, ...]:
    widths = spec.get("widths")
    if isinstance(widths, (list, tuple)) and widths:
        return (int(widths[0]),)
    raise ValueError(
        "`input_shape` must be given for models without `widths`, "
        f"but got input_shape=None for {spec.get('name')!r}."
    )


@dataclass(frozen=True)
class Match:
    """Result of :func:`match_model`: the sized baseline spec and both costs."""

    spec: dict[str, Any]
    width: int
    cost: int
    budget: int
    to: str
    knob: str

    @property
    def relative_error(self) -> float:
        return (self.cost - self.budget) / self.budget if self.budget else 0.0

    def overrides(self, prefix: str = "model") -> list[str]:
        """``--set`` overrides that turn the baseline config into the matched one."""
        value = self.spec[self.knob]
        text = f"[{', '.join(str(v) for v in value)}]" if isinstance(value, list) else str(value)
        return [f"{prefix}.{self.knob}={text}"]


def _with_width(
    baseline: Mapping[str, Any], knob: str, width: int, template: Sequence[int] | None
) -> dict[str, Any]:
    spec = copy.deepcopy(dict(baseline))
    if template is None:
        spec[knob] = width
        return spec
    hidden = list(template[1:-1])
    first = hidden[0]
    scaled = [max(1, round(h * width / first)) for h in hidden]  # keep the hidden proportions
    spec[knob] = [int(template[0]), *scaled, int(template[-1])]
    return spec


def match_model(
    target: Mapping[str, Any],
    *,
    to: str = "params",
    baseline: Mapping[str, Any] | None = None,
    knob: str = "widths",
    input_shape: Sequence[int] | None = None,
    max_width: int = 1 << 16,
    cost_fn: Callable[[Mapping[str, Any]], int] | None = None,
) -> Match:
    """Size ``baseline`` to ``target``'s parameter or FLOP budget by bisection on its width.

    Args:
        target: Model spec whose cost sets the budget.
        to: ``params`` (trainable parameters) or ``flops`` (matmul FLOPs per sample).
        baseline: Model spec to size; default ``{name: mlp}`` with the target's ``widths``.
        knob: The baseline's width parameter: a ``widths`` list (hidden entries are scaled
            together, first hidden entry = the bisected width) or an int parameter.
        input_shape: Per-sample input shape for FLOPs; default ``(widths[0],)``.
        max_width: Upper end of the search.
        cost_fn: Replaces the measurement (spec -> cost); for tests and custom budgets.

    Raises:
        ValueError: for an unknown ``to``, a baseline without the knob, or a budget the
            baseline cannot reach within ``[1, max_width]``.
    """
    _check_target(to)
    target = dict(target)
    if baseline is None:
        baseline = {"name": "mlp"}
        if "widths" in target:
            baseline["widths"] = list(target["widths"])
    baseline = dict(baseline)
    if knob not in baseline:
        raise ValueError(
            f"`knob` must name a parameter set in the baseline spec, but got knob={knob!r} "
            f"for baseline keys {sorted(baseline)}."
        )
    template = baseline[knob] if isinstance(baseline[knob], (list, tuple)) else None
    if template is not None and len(template) < 3:
        raise ValueError(
            f"`{knob}` of the baseline must have a hidden layer to size, "
            f"but got {knob}={template}."
        )
    shape = input_shape
    if shape is None and to == "flops" and cost_fn is None:
        shape = _default_input_shape(target)

    def measure(spec: Mapping[str, Any]) -> int:
        return cost_fn(spec) if cost_fn is not None else model_cost(spec, to, shape)

    budget = measure(target)

    def cost_at(width: int) -> int:
        return measure(_with_width(baseline, knob, width, template))

    lo, hi = 1, 1
    while cost_at(hi) < budget:  # exponential search for an upper bracket
        lo, hi = hi, hi * 2
        if hi > max_width:
            raise ValueError(
                f"`max_width` must allow the budget of {budget:,} {to}, but got "
                f"max_width={max_width} (cost {cost_at(max_width):,})."
            )
    while hi - lo > 1:  # cost_at(lo) < budget <= cost_at(hi) (or lo == 1)
        mid = (lo + hi) // 2
        if cost_at(mid) < budget:
            lo = mid
        else:
            hi = mid
    width = min((lo, hi), key=lambda w: (abs(cost_at(w) - budget), w))
    spec = _with_width(baseline, knob, width, template)
    return Match(spec=spec, width=width, cost=cost_at(width), budget=budget, to=to, knob=knob)
