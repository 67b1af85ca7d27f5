"""The leaderboard's footnotes: what every column means, and what this table's rows flag.

:func:`notes` returns every footnote of a table in order; which ones appear depends on the
rows (params as built ⁷, non-finite or stopped seeds ⁸, regression rows that did not fit ¹⁰,
an equivalence margin ¹¹). The convergence note ⁹ and the cost line state the table's
tallies (:func:`kanlab.results.aggregate.still_improving`, :func:`~kanlab.results.aggregate.cost`).
The wording is part of the committed tables: change it only with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kanlab.convergence import TAIL
from kanlab.results.aggregate import cost, still_improving
from kanlab.results.columns import n_of
from kanlab.results.records import (
    ALPHA,
    METRICS,
    PRIMARY,
    R2_FIT,
    SPLIT_BY,
    STILL_IMPROVING_MAX,
    plural,
)
from kanlab.results.stats import MIN_N_FOR_TEST

if TYPE_CHECKING:
    from kanlab.results.leaderboard import Leaderboard

__all__ = ["ANCHOR_NOTE", "FOOTNOTES", "REGRESSION_FOOTNOTES", "header_line", "notes"]

FOOTNOTES = (
    "Models are selected on validation (carved from the training set); the primary column is "
    "test accuracy at the best-validation checkpoint, mean ± sample std over the n seeds (no "
    "std for n = 1). 95 % CI: confidence interval of that mean, Student's t with n − 1 "
    "degrees of freedom.",
    "¹ Best test accuracy over epochs, i.e. selected on test, as in the KAN papers' tables "
    "(All-KAN, BSRBF-KAN); optimistic by construction, shown only for comparison with them.",
    "² Matrix-multiply FLOPs per sample of one forward pass, from torch's FLOP counter "
    "(`torch.utils.flop_counter`); it misses elementwise work such as KAN basis functions, "
    "so it under-counts KAN layers. Latency is the honest cost column.",
    "³ Median forward time of one batch on the device shown, measured on a shared, busy "
    "machine: noisy, compare only within one table.",
)


REGRESSION_FOOTNOTES = (
    "Regression: models are selected on validation (lowest validation MSE); the primary "
    "column is the test RMSE (square root of the test set's MSE) at the best-validation "
    "checkpoint, mean ± sample std over the n seeds; lower is better. 95 % CI: confidence "
    "interval of that mean, Student's t with n − 1 degrees of freedom.",
    FOOTNOTES[2],
    FOOTNOTES[3],
)


ANCHOR_NOTE = (
    "Numbers reported by other projects under their own protocol; they are context, not "
    "results of this code, and are not ranked with the table above."
)


def notes(lb: Leaderboard) -> list[str]:
    """Every footnote of the table, in order (depends on the rows shown)."""
    out = list(FOOTNOTES) if lb.primary == PRIMARY else list(REGRESSION_FOOTNOTES)
    out += [_baseline_note(lb), _top_note(lb), _code_note(lb)]
    built = [r for r in lb.sorted_rows() if r.params_built is not None]
    if built:
        out.append(
            "⁷ params: the deployed model (for layers trained in stages, e.g. S-KAN, the "
            "final, pruned stage; a range when the seeds pruned differently). As built, "
            "before any stage change: "
            + "; ".join(f"{r.name} {r.params_built:,}" for r in built) + "."
        )
    if any(n_of(r, lb) < r.n or r.stopped for r in lb.rows):
        out.append(
            "⁸ n counts the seeds whose primary metric is finite; the statistics use only "
            "those. non-finite: seeds that diverged (NaN or infinite loss), left out, so "
            "such a row looks better than its runs were. stopped: runs that ended before "
            "`max_epochs` for another reason than a plateau of the validation metric (a "
            "search pruner, a diverged loss, Ctrl-C), included in the statistics."
        )
    out.append(_convergence_note(lb))
    if any(r.no_fit for r in lb.rows):
        out.append(
            f"¹⁰ not fitted: seeds whose test R² is below {R2_FIT}. A row whose mean test R² "
            f"is below {R2_FIT} fails to fit: it is not tested against the baseline, and "
            "when the baseline fails to fit no row of its task is, since a difference to a "
            "model that never learnt the function is no win for the other side."
        )
    if lb.margin is not None:
        out.append(_equivalence_note(lb, lb.margin))
    out.append(_cost_note(lb))
    return out


def _baseline_how(lb: Leaderboard) -> tuple[str, str]:
    """The baseline's name in the note ⁴ and how it was chosen (per task in a split table)."""
    base = lb.row(lb.baseline_key)
    base_name = f"`{base.name}`" if base is not None else "none"
    how = lb.choose_baseline(lb.rows)[1]
    if len(lb.tasks) > 1:
        what = " (the synthetic function)" if lb.split_by == SPLIT_BY else ""
        named = [lb.choose_baseline(rows)[1] == "chosen with `--baseline`"
                 for rows in lb.tasks.values()]
        chosen = ("the row named with `--baseline`" if all(named) else
                  "the row named with `--baseline` where the task has one, else its plain "
                  "MLP (else its top row)" if any(named) else
                  "its plain MLP (else its top row)")
        base_name, how = "per task", (
            f"rows are split into tasks by their config's `{lb.split_by}`{what}, and "
            "each row is compared only with rows of its own task: the baseline of a task "
            f"is {chosen}, top is the task's best row; Holm corrections are per task"
        )
    return base_name, how


def _baseline_note(lb: Leaderboard) -> str:
    base_name, how = _baseline_how(lb)
    unit = "points" if METRICS[lb.primary].percent else "the metric's units"
    return (
        f"⁴ Baseline: {base_name} ({how}). Δ: difference of the mean to the baseline's, in "
        f"{unit}. p: two-sided Welch t test (unequal variances, `scipy.stats.ttest_ind`) of "
        "the row's seeds against the baseline's, Holm-corrected over all rows tested "
        f"against the baseline; a difference is a finding only where p < {ALPHA}. Rows "
        f"with n < {MIN_N_FOR_TEST} (or a baseline with n < {MIN_N_FOR_TEST}) are not "
        "tested: with so few seeds the variance, and so the test, means nothing."
        + (" Two rows whose seeds show no spread at all get p = 1 when their values are "
           "equal, else 0." if any(c.no_spread for c in lb.comparisons.values()) else "")
    )


def _top_note(lb: Leaderboard) -> str:
    return (
        f"⁵ top: the {'highest' if METRICS[lb.primary].descending else 'lowest'} mean in "
        "the primary column. ≈ top: statistically "
        "indistinguishable from the top row, i.e. the two-sided Welch test against the top "
        f"row, Holm-corrected over all rows tested against it, gives p ≥ {ALPHA}; below: "
        f"p < {ALPHA}. Indistinguishable is not equal: at small n real gaps go undetected."
    )


def _code_note(lb: Leaderboard) -> str:
    versions = sorted({s for r in lb.rows for s in r.provenance.code_shas})
    unknown = sum(r.provenance.n_unknown for r in lb.rows)
    return (
        "⁶ code: the git tree hash of kanlab/ (`code_sha`, first 7 digits) the runs ran; "
        "rows with the same hash ran the same code. mixed: the configuration's runs come "
        "from several code versions; dirty: runs made with uncommitted changes in kanlab/; "
        + ("unknown provenance: rows without a code hash (run outside a git checkout, "
           "e.g. from an installed wheel, or recorded before code_sha and git_dirty were "
           "kept). " if unknown else  # (the committed tables keep their wording)
           "unknown provenance: rows recorded before code_sha and git_dirty were kept. ")
        + "`kanlab leaderboard --strict` refuses a table with any of these, and one whose "
        "rows ran a code that is neither the current kanlab/ nor tied to it by the "
        "directory's verified.jsonl (`kanlab reproduce DIR --verify`). This table: "
        f"{plural(len(versions), 'code version', 'code versions')}"
        + (f", {plural(unknown, 'run', 'runs')} of unknown provenance" if unknown else "")
        + "."
    )


def _equivalence_note(lb: Leaderboard, margin: float) -> str:
    unit = "points" if METRICS[lb.primary].percent else "in the metric's units"
    return (
        f"¹¹ ≡: equivalent to the baseline within ε = {margin:g} {unit} (set in "
        "the manifest's `leaderboard: equivalence_margin:`): Welch two-one-sided-tests "
        "(TOST; H0: the means differ by ε or more; the larger of the one-sided p-values "
        "of `scipy.stats.ttest_ind(equal_var=False)` against −ε and +ε), "
        f"Holm-corrected over the rows tested; ≡ where p < {ALPHA}. not shown: "
        "equivalence within ε is not shown at this n, which is not a difference shown."
    )


def _convergence_note(lb: Leaderboard) -> str:
    improving, unknown, runs = still_improving(lb.rows)
    share = f" ({100 * improving / runs:.0f} %)" if runs else ""
    return (
        "⁹ converged (`kanlab.convergence`): a run converged when early stopping ended it on "
        "a plateau of the validation metric, or when it trained its whole budget "
        "(`max_epochs`) and the best validation value of its last "
        f"{100 * TAIL:.0f} % of selectable epochs (at least one) did not beat the best before "
        "them by more than `trainer.early_stopping_min_delta`; still improving: it did, so "
        "the budget, not the model, may decide the comparison. Rows recorded before the "
        "`converged` field are judged from their selected epoch (the same rule at "
        "min_delta 0). This table: "
        f"{plural(improving, 'run', 'runs')} of {runs} still improving{share}"
        + (f", {unknown} unknown" if unknown else "")
        + f"; `kanlab leaderboard --strict` refuses a table with "
        f"{100 * STILL_IMPROVING_MAX:.0f} % or more."
    )


def _cost_note(lb: Leaderboard) -> str:
    c = cost(lb.rows)
    if c.step_median is not None:
        step = (f"median training-step time {1000 * c.step_median:.2f} ms (median "
                f"over the {c.n_steps} runs that record `step_time_s`, each its own median)")
    else:
        step = "training-step time not recorded by these rows (rows keep `step_time_s` now)"
    thread_text = (f"torch threads per run: {', '.join(map(str, c.threads))}" if c.threads
                   else "threads not recorded by these rows")
    return (f"Cost: the {plural(c.runs, 'run', 'runs')} took {c.hours:.2f} h of run time in "
            f"total (sum of the rows' `wall_time_s`); {step}; {thread_text}.")


def header_line(lb: Leaderboard) -> str:
    """The "Generated by `...`" line under a table's title."""
    runs = plural(lb.n_runs, "run", "runs")
    studies = plural(len(lb.studies), "exported study", "exported studies")
    return (
        f"Generated by `{lb.command}` from `runs.jsonl` ({runs}) and {studies}. Do not "
        "edit by hand: rerun the command."
    )
