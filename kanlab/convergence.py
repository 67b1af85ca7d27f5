"""Did a training run converge? The rule every run row's ``converged`` field follows.

A run ends for one of four reasons (``stop_reason`` in the row):

- ``plateau``: early stopping on the validation metric ran out of patience (no improvement
  larger than ``min_delta`` for ``patience`` epochs): converged.
- ``budget``: the run trained its whole budget (``trainer.max_epochs``). It converged unless
  it was **still improving**: the best validation value of the last ``tail`` (20 %) of the
  selectable epochs (rounded up, at least one epoch) beats the best value before them by more
  than ``min_delta`` (``trainer.early_stopping_min_delta``, default 0).
- ``diverged``: early stopping stopped on a non-finite validation metric: not converged.
- ``stopped``: something else ended the run before its budget (a search pruner, Ctrl-C):
  not converged (it did not finish).

The selectable epochs are those checkpoint selection may pick: all of them, or the final
stage of a run trained in stages (:mod:`kanlab.lit.staged`). With ``min_delta = 0`` the rule
needs only the selected epoch: checkpoint selection keeps the first of equal values, so the
best of the tail beats the best before it exactly when the selected epoch lies in the tail
(:func:`still_improving_from_selection`), which is how rows recorded before the curve was kept
are judged (``results`` leaderboards); with ``min_delta > 0`` and no curve the answer is
unknown (``None``).

Formula: selectable epochs ``s .. E-1`` (``n = E - s``), tail width ``w = max(1, ceil(0.2 n))``,
``before = v[s : E-w]``, ``tail = v[E-w : E]``; still improving iff ``sign * (best(tail) -
best(before)) > min_delta`` (``sign`` +1 for a metric to maximise, -1 to minimise). Unknown
(``None``) when ``before`` has no finite value (fewer than two selectable epochs).

Deviations: none; this is kanlab's own definition. Why it is defensible: a run that
stopped on a plateau has, by construction, not improved by more than ``min_delta`` for
``patience`` epochs; a run that used its whole budget and still found its best model in the
last fifth of it would likely have gone on improving with more epochs, so comparing it with
other models says as much about the budget as about the model. Cosine schedules that anneal
to zero make the last epochs the best ones by design; under this rule such runs count as still
improving, which is what the committed protocols avoid by stopping on a plateau instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "STOP_REASONS",
    "TAIL",
    "converged",
    "row_converged",
    "still_improving",
    "still_improving_from_selection",
    "tail_width",
]

TAIL = 0.2
"""Fraction of the selectable epochs that form the tail (rounded up, at least one epoch)."""

STOP_REASONS = ("plateau", "budget", "diverged", "stopped")


def tail_width(n_selectable: int, tail: float = TAIL) -> int:
    """Epochs in the tail of ``n_selectable`` selectable epochs: ``max(1, ceil(tail * n))``."""
    return max(1, math.ceil(tail * n_selectable - 1e-9))


def _best(values: Sequence[float], sign: float) -> float | None:
    finite = [sign * v for v in values if v is not None and math.isfinite(v)]
    return max(finite) if finite else None


def still_improving(
    values: Sequence[float], *, mode: str, select_from: int = 0, min_delta: float = 0.0,
    tail: float = TAIL,
) -> bool | None:
    """Whether the validation curve ``values`` (one value per epoch, epoch 0 first) was still
    improving at its end (see the module docstring); ``None``: too short to tell.

    Raises:
        ValueError: for a ``mode`` other than ``min``/``max`` or a negative ``min_delta``.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"`mode` must be 'min' or 'max', but got mode={mode!r}.")
    if min_delta < 0:
        raise ValueError(f"`min_delta` must be >= 0, but got min_delta={min_delta}.")
    selectable = list(values[select_from:]) or list(values)
    w = tail_width(len(selectable), tail)
    sign = 1.0 if mode == "max" else -1.0
    before, last = _best(selectable[:-w], sign), _best(selectable[-w:], sign)
    if before is None:
        return None
    if last is None:  # the tail is all NaN: diverged, not improving
        return False
    return last - before > min_delta


def still_improving_from_selection(
    best_epoch: int, epochs: int, *, select_from: int = 0, tail: float = TAIL,
) -> bool | None:
    """The rule with ``min_delta = 0`` from the selected epoch alone: it lies in the tail of
    the selectable epochs ``select_from .. epochs - 1``. ``None`` with < 2 selectable epochs."""
    start = select_from if select_from < epochs else 0
    n = epochs - start
    if n < 2:
        return None
    return best_epoch >= epochs - tail_width(n, tail)


def converged(stop_reason: str, improving: bool | None) -> bool | None:
    """``converged`` from why the run stopped and :func:`still_improving` (``None``: unknown).

    Raises:
        ValueError: for a ``stop_reason`` not in :data:`STOP_REASONS`.
    """
    if stop_reason not in STOP_REASONS:
        raise ValueError(
            f"`stop_reason` must be one of {', '.join(STOP_REASONS)}, but got {stop_reason!r}."
        )
    if stop_reason == "plateau":
        return True
    if stop_reason in ("diverged", "stopped"):
        return False
    return None if improving is None else not improving


def row_converged(row: Mapping[str, Any]) -> bool | None:
    """A ``runs.jsonl`` row's convergence: its ``converged`` field, else recomputed.

    Rows recorded before the field existed: from their validation curve when they hold one,
    else from ``best_epoch`` / ``epochs`` / ``selected_from_epoch`` when their early-stopping
    ``min_delta`` is 0 (a ``completed`` row ran its budget unless early stopping was on, a
    ``stopped`` one did not finish); ``None`` when neither tells.
    """
    value = row.get("converged")
    if isinstance(value, bool):
        return value
    trainer = ((row.get("config") or {}).get("trainer") or {})
    min_delta = float(trainer.get("early_stopping_min_delta") or 0.0)
    epochs, best = row.get("epochs"), row.get("best_epoch")
    max_epochs = trainer.get("max_epochs")
    if row.get("status") == "stopped":
        return False
    if isinstance(epochs, int) and isinstance(max_epochs, int) and epochs < max_epochs:
        # ended early while "completed": early stopping on a plateau (or an unknown cause)
        return True if trainer.get("early_stopping_patience") is not None else None
    select_from = int(row.get("selected_from_epoch") or 0)
    curve = (row.get("convergence") or {}).get("curve")
    if isinstance(curve, list) and curve:
        mode = str((row.get("convergence") or {}).get("mode", "min"))
        return converged("budget", still_improving(
            [math.nan if v is None else float(v) for v in curve], mode=mode,
            select_from=select_from, min_delta=min_delta))
    if min_delta == 0 and isinstance(epochs, int) and isinstance(best, int):
        return converged("budget", still_improving_from_selection(
            best, epochs, select_from=select_from))
    return None
