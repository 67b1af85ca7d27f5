"""The convergence rule on hand-made validation curves (kanlab.convergence)."""

from __future__ import annotations

import math

import pytest

from kanlab.convergence import (
    converged,
    row_converged,
    still_improving,
    still_improving_from_selection,
    tail_width,
)


def test_tail_is_a_fifth_of_the_selectable_epochs_rounded_up() -> None:
    assert [tail_width(n) for n in (1, 2, 5, 6, 10, 20, 25, 26)] == [1, 1, 1, 2, 2, 4, 5, 6]


def test_a_curve_still_falling_at_the_end_is_still_improving() -> None:
    loss = [1.0, 0.5, 0.4, 0.35, 0.3, 0.28, 0.27, 0.26, 0.25, 0.24]  # tail = last 2 epochs
    assert still_improving(loss, mode="min") is True
    assert converged("budget", still_improving(loss, mode="min")) is False
    # the tail improves by 0.02 on the best before it (0.26): a min_delta of 0.05 calls it flat
    assert still_improving(loss, mode="min", min_delta=0.05) is False
    assert still_improving(loss, mode="min", min_delta=0.019) is True


def test_a_curve_whose_best_is_before_the_tail_has_converged() -> None:
    acc = [0.5, 0.7, 0.8, 0.85, 0.86, 0.86, 0.85, 0.86, 0.859, 0.858]
    assert still_improving(acc, mode="max") is False  # ties in the tail are no improvement
    assert converged("budget", False) is True
    assert still_improving([v + 0.01 * (i == 9) for i, v in enumerate(acc)], mode="max") is True


def test_staged_runs_are_judged_on_their_final_stage_only() -> None:
    # epochs 0-11 are earlier stages (better values there do not count); final stage 12-19
    loss = [0.01] * 12 + [0.5, 0.4, 0.3, 0.2, 0.15, 0.14, 0.13, 0.12]
    assert still_improving(loss, mode="min", select_from=12) is True
    assert still_improving(loss, mode="min") is False  # over all epochs: epoch 0-11 win
    flat = [0.01] * 12 + [0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.11, 0.12]
    assert still_improving(flat, mode="min", select_from=12) is False


def test_unknown_when_too_short_and_not_improving_when_the_tail_diverged() -> None:
    assert still_improving([0.3], mode="min") is None
    assert converged("budget", None) is None
    assert still_improving([1.0, 0.5, math.nan, math.nan, math.nan, math.nan], mode="min") is False


def test_stop_reasons() -> None:
    assert converged("plateau", True) is True  # patience ran out: converged by construction
    assert converged("diverged", False) is False and converged("stopped", None) is False
    with pytest.raises(ValueError, match="`stop_reason` must be one of"):
        converged("early", None)
    with pytest.raises(ValueError, match="`mode` must be"):
        still_improving([1.0, 2.0], mode="up")


def test_from_the_selected_epoch_equals_the_curve_rule_at_zero_min_delta() -> None:
    curves = [
        [1.0, 0.5, 0.4, 0.35, 0.3, 0.28, 0.27, 0.26, 0.25, 0.24],
        [1.0, 0.5, 0.4, 0.2, 0.3, 0.28, 0.27, 0.26, 0.25, 0.24],
        [1.0, 0.5, 0.4, 0.35, 0.3, 0.2, 0.27, 0.26, 0.25, 0.2],  # tie: first one selected
        [0.3, 0.2, 0.1, 0.2, 0.25],
    ]
    for curve in curves:
        best = min(range(len(curve)), key=lambda i: (curve[i], i))
        assert still_improving_from_selection(best, len(curve)) == still_improving(
            curve, mode="min"), curve


def test_old_rows_are_judged_from_what_they_record() -> None:
    trainer = {"max_epochs": 25, "early_stopping_patience": None}
    old = {"status": "completed", "epochs": 25, "best_epoch": 24, "selected_from_epoch": 0,
           "config": {"trainer": trainer}}
    assert row_converged(old) is False  # chose its last epoch
    assert row_converged({**old, "best_epoch": 19}) is True  # tail is epochs 20-24
    assert row_converged({**old, "best_epoch": 20}) is False
    staged = {**old, "selected_from_epoch": 15, "best_epoch": 22}  # final stage 15-24, tail 23-24
    assert row_converged(staged) is True
    assert row_converged({**old, "converged": True}) is True  # the recorded field wins
    assert row_converged({**old, "status": "stopped"}) is False
    with_delta = {**old, "config": {"trainer": {**trainer, "early_stopping_min_delta": 0.01}}}
    assert row_converged(with_delta) is None  # min_delta > 0 and no curve: unknown
    curve = {"mode": "min", "curve": [1.0] * 20 + [0.999] * 5}
    assert row_converged({**with_delta, "convergence": curve}) is True  # 0.001 < 0.01
    early = {**old, "epochs": 12, "config": {"trainer": {**trainer,
                                                          "early_stopping_patience": 5}}}
    assert row_converged(early) is True
