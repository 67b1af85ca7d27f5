"""Figures (matplotlib, Agg backend, PNG): activations, KAN edges, S-KAN selections, studies,
top-k sparsity and leaderboard bars.

Every ``plot_*`` function writes one PNG and returns its path; the ``*_figure`` functions
return the matplotlib figure instead (for notebooks and tests). They take modules or data, not
run directories; :mod:`kanlab.results.cli` does the loading (``kanlab.lit.load_run``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kanlab.registry import ACTIVATIONS

__all__ = [
    "edges_figure",
    "plot_activations",
    "plot_edges",
    "plot_leaderboard",
    "plot_skan_selection",
    "plot_study",
    "plot_topk_histogram",
    "skan_selection_figure",
    "sparsity_modules",
    "study_figure",
    "topk_histogram_figure",
]

logger = logging.getLogger(__name__)

STUDY_KINDS = ("history", "importance", "pareto")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return out


def _as_activation(spec: str | Mapping[str, Any] | nn.Module) -> tuple[str, nn.Module]:
    if isinstance(spec, nn.Module):
        return type(spec).__name__, spec
    module = ACTIVATIONS.build(spec)
    name = spec if isinstance(spec, str) else str(spec["name"])
    return name, module


def plot_activations(
    activations: Sequence[str | Mapping[str, Any] | nn.Module],
    path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    x_range: tuple[float, float] = (-4.0, 4.0),
    n: int = 401,
    derivative: bool = True,
) -> Path:
    """Curves ``f(x)`` (and ``f'(x)`` by autograd) of elementwise activations.

    Args:
        activations: Registry names, ``{name: ..., **hp}`` specs or modules (e.g. learnt ones
            taken from a trained model).
        path: PNG to write.
        labels: Legend entries (default: names / class names).
        x_range: Plotted interval.
        n: Sample points.
        derivative: Add a second panel with the derivative.

    Raises:
        ValueError: when ``activations`` is empty or ``labels`` has the wrong length.
    """
    if not activations:
        raise ValueError("`activations` must name at least one activation, but got [].")
    built = [_as_activation(a) for a in activations]
    if labels is not None and len(labels) != len(built):
        raise ValueError(
            f"`labels` must have one entry per activation ({len(built)}), "
            f"but got {len(labels)}."
        )
    names = list(labels) if labels is not None else [name for name, _ in built]
    plt = _pyplot()
    ncols = 2 if derivative else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 4), squeeze=False)
    for label, (_, module) in zip(names, built, strict=True):
        ref = next(iter(module.parameters()), None)
        dtype = ref.dtype if ref is not None else torch.float32
        device = ref.device if ref is not None else None
        x = torch.linspace(x_range[0], x_range[1], n, dtype=dtype, device=device)
        x.requires_grad_(True)
        was_training = module.training
        module.eval()
        y = module(x.clone())
        module.train(was_training)
        axes[0, 0].plot(x.detach().cpu(), y.detach().cpu(), label=label)
        if derivative:
            (dy,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
            dy = torch.zeros_like(x) if dy is None else dy
            axes[0, 1].plot(x.detach().cpu(), dy.detach().cpu(), label=label)
    axes[0, 0].set_title("f(x)")
    if derivative:
        axes[0, 1].set_title("f'(x)")
    for ax in axes[0]:
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_edges(
    layer: nn.Module,
    path: str | Path,
    *,
    x_range: tuple[float, float] = (-1.0, 1.0),
    max_in: int = 6,
    max_out: int = 6,
    n: int = 101,
    fits: bool = False,
) -> Path:
    """Grid of KAN edge functions ``phi_oi`` (rows: outputs, columns: inputs).

    Large layers show the ``max_out`` x ``max_in`` outputs/inputs with the largest edge
    ranges. ``fits=True`` overlays the symbolic fit of each edge (dashed) with its formula.
    Indices are 0-based, as in module names and :func:`~kanlab.results.symbolic.symbolic_report`.
    """
    fig = edges_figure(layer, x_range=x_range, max_in=max_in, max_out=max_out, n=n, fits=fits)
    return _save(fig, path)


def edges_figure(
    layer: nn.Module,
    *,
    x_range: tuple[float, float] = (-1.0, 1.0),
    max_in: int = 6,
    max_out: int = 6,
    n: int = 101,
    fits: bool = False,
) -> Any:
    """The figure of :func:`plot_edges` (a matplotlib ``Figure``, not saved)."""
    from kanlab.results.symbolic import edge_curves, fit_function

    xs, phi, _ = edge_curves(layer, x_range, n)
    amp = phi.amax(dim=2) - phi.amin(dim=2)                              # (O, I)
    outs = torch.argsort(amp.sum(dim=1), descending=True)[:max_out].sort().values.tolist()
    ins = torch.argsort(amp.sum(dim=0), descending=True)[:max_in].sort().values.tolist()
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(outs), len(ins), figsize=(2.2 * len(ins), 1.8 * len(outs) + 0.4), squeeze=False,
        sharex=True,
    )
    for r, o in enumerate(outs):
        for c, i in enumerate(ins):
            ax = axes[r, c]
            ax.plot(xs, phi[o, i], lw=1.5, label="edge φ (sampled)")
            if fits:
                fit = fit_function(xs, phi[o, i])
                ax.plot(xs, fit(xs), "--", lw=1, label="symbolic fit")
                ax.set_title(f"{fit.function} R²={fit.r2:.3f}", fontsize=7)
            ax.tick_params(labelsize=6)
            if r == len(outs) - 1:
                ax.set_xlabel(f"x_{i}", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"φ[{o},·]", fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=7, frameon=False)
    fig.suptitle(f"{type(layer).__name__} edge functions φ[output, input]", fontsize=9)
    return fig


def plot_skan_selection(module: nn.Module, path: str | Path) -> Path:
    """Heat map of which candidate basis each S-KAN edge selected (or its selection weights).

    Looks for a ``selection`` attribute: an integer map ``(O, I)`` / ``(I,)`` of candidate
    indices, or a float map ``(..., n_candidates)`` of weights (argmax is shown). Candidate
    names come from ``candidates`` (name -> layer) when present.

    Raises:
        ValueError: if the module exposes no selection.
    """
    return _save(skan_selection_figure(module), path)


def skan_selection_figure(module: nn.Module) -> Any:
    """The figure of :func:`plot_skan_selection` (not saved).

    Raises:
        ValueError: if the module exposes no selection.
    """
    from matplotlib.ticker import MaxNLocator

    sel = _find_selection(module)
    if sel is None:
        raise ValueError(
            "`module` must be an S-KAN module with a `selection`, "
            f"but got {type(module).__name__}."
        )
    names = [str(n) for n in getattr(module, "candidate_names", None) or
             list(getattr(module, "candidates", {}) or {})]
    per_output = sel.dim() == 1
    sel = sel.detach().cpu()
    if sel.is_floating_point():
        sel = sel.argmax(dim=-1)
    grid = sel.reshape(-1, sel.shape[-1]) if sel.dim() > 1 else sel.reshape(1, -1)
    plt = _pyplot()
    n_cand = max(len(names), int(grid.max()) + 1 if grid.numel() else 1)
    fig, ax = plt.subplots(figsize=(min(12, 1 + 0.25 * grid.shape[1]),
                                    min(8, 1.2 + 0.25 * grid.shape[0])))
    cmap = plt.get_cmap("tab10", n_cand)
    im = ax.imshow(grid.numpy(), cmap=cmap, vmin=-0.5, vmax=n_cand - 0.5, aspect="auto",
                   interpolation="nearest")
    bar = fig.colorbar(im, ax=ax, ticks=range(n_cand))
    if names:
        bar.ax.set_yticklabels(names[:n_cand] + [""] * (n_cand - len(names)))
    bar.set_label("selected candidate")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("output node" if per_output else "input")
    if per_output:                           # one row: its y axis carries no information
        ax.set_yticks([])
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("output")
    counts = torch.bincount(grid.reshape(-1), minlength=n_cand).tolist()
    summary = ", ".join(
        f"{names[k] if k < len(names) else k}: {c}" for k, c in enumerate(counts) if c
    )
    ax.set_title(f"S-KAN selection ({summary})", fontsize=8)
    return fig


def _find_selection(module: nn.Module) -> torch.Tensor | None:
    for attr in ("selection", "selected", "selection_logits", "alpha", "selection_weights"):
        value = getattr(module, attr, None)
        if isinstance(value, torch.Tensor):
            return value
        if callable(value):
            try:
                out = value()
            except TypeError:
                continue
            if isinstance(out, torch.Tensor):
                return out
    return None


def plot_study(
    storage: str, study_name: str, path: str | Path, *, kind: str = "history",
    target_index: int = 0,
) -> Path:
    """Optimisation history, parameter importance or Pareto front of a stored Optuna study.

    Args:
        storage: Storage URL (``sqlite:///results/studies/x.db``, PostgreSQL, ``journal:``,
            ``grpc://host:port``, ...).
        study_name: The study's name.
        path: PNG to write.
        kind: ``history`` (every finished trial's metric by trial number, pruned trials at
            their last reported value, best so far), ``importance`` (fANOVA parameter
            importance) or ``pareto`` (Pareto front of a multi-objective study).
        target_index: Objective shown by history/importance in multi-objective studies.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    import optuna

    _check_kind(kind)
    from kanlab.search.storage import open_storage

    study = optuna.load_study(study_name=study_name,
                              storage=open_storage(storage, create_dirs=False))
    return _save(study_figure(study, kind=kind, target_index=target_index), path)


def _check_kind(kind: str) -> None:
    from kanlab.registry import suggest

    if kind not in STUDY_KINDS:
        raise ValueError(
            f"`kind` must be one of {', '.join(STUDY_KINDS)}, but got kind={kind!r}."
            f"{suggest(kind, STUDY_KINDS)}"
        )


def _metric_name(study: Any, index: int) -> str:
    names = study.metric_names or study.user_attrs.get("metrics") or []
    return str(names[index]) if index < len(names) else "objective value"


def study_figure(study: Any, *, kind: str = "history", target_index: int = 0) -> Any:
    """The figure of :func:`plot_study` for a loaded ``optuna.Study`` (not saved).

    Raises:
        ValueError: for an unknown ``kind``.
    """
    import warnings

    from optuna.visualization import matplotlib as ovm

    _check_kind(kind)
    if kind == "history":
        return _history_figure(study, target_index)
    multi = len(study.directions) > 1
    plt = _pyplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning of the matplotlib backend
        if kind == "importance":
            target = (lambda t: t.values[target_index]) if multi else None
            metric = _metric_name(study, target_index)
            ax = ovm.plot_param_importances(study, target=target, target_name=metric)
            ax.set_xlabel(f"importance for {metric} (fANOVA)")
        else:
            ovm.plot_pareto_front(study)
    fig = plt.gcf()
    fig.set_size_inches(7, 4.5)
    return fig


def _history_figure(study: Any, index: int) -> Any:
    """Metric by trial number: completed trials, pruned ones (last report), best so far."""
    from matplotlib.ticker import MaxNLocator
    from optuna.trial import TrialState

    metric = _metric_name(study, index)
    minimize = study.directions[index].name == "MINIMIZE"
    done: list[tuple[int, float]] = []
    pruned: list[tuple[int, float]] = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE and t.values is not None:
            done.append((t.number, float(t.values[index])))
        elif t.state == TrialState.PRUNED and t.intermediate_values and index == 0:
            pruned.append((t.number, float(t.intermediate_values[max(t.intermediate_values)])))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if done:
        xs, ys = zip(*done, strict=True)
        ax.scatter(xs, ys, s=18, color="tab:blue", label=f"{len(done)} completed", zorder=3)
        best, front = [], math.inf if minimize else -math.inf
        for y in ys:
            front = min(front, y) if minimize else max(front, y)
            best.append(front)
        ax.step(xs, best, where="post", color="tab:red", label="best so far")
    if pruned:
        xs, ys = zip(*pruned, strict=True)
        ax.scatter(xs, ys, s=22, marker="x", color="0.5",
                   label=f"{len(pruned)} pruned (last reported value)", zorder=2)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"{study.study_name}: optimisation history "
                 f"({'minimize' if minimize else 'maximize'} {metric})", fontsize=9)
    if done or pruned:
        ax.legend(fontsize=8)
    return fig


def sparsity_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Non-elementwise activations (top-k family) inside ``model``."""
    classes = {
        e.target for e in ACTIVATIONS.entries() if e.meta.get("elementwise") is False
    }
    return [(n or type(m).__name__, m) for n, m in model.named_modules() if type(m) in classes]


def plot_topk_histogram(
    model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor], path: str | Path
) -> Path:
    """Per-row kept fraction and kept-value histograms of every top-k module in ``model``.

    Args:
        model: A model containing top-k family activations.
        inputs: One input batch or an iterable of batches.
        path: PNG to write.

    Raises:
        ValueError: if the model has no sparsity module.
    """
    return _save(topk_histogram_figure(model, inputs), path)


@torch.no_grad()
def topk_histogram_figure(
    model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor]
) -> Any:
    """The figure of :func:`plot_topk_histogram` (not saved).

    Raises:
        ValueError: if the model has no sparsity module.
    """
    mods = sparsity_modules(model)
    if not mods:
        raise ValueError(
            f"`model` must contain a top-k family activation, but got {type(model).__name__}."
        )
    kept: dict[str, list[torch.Tensor]] = {n: [] for n, _ in mods}
    values: dict[str, list[torch.Tensor]] = {n: [] for n, _ in mods}

    def hook(name: str, dim: int) -> Any:
        def fn(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            rows = out.detach().movedim(dim, -1).reshape(-1, out.shape[dim])  # (rows, d)
            nz = rows != 0
            kept[name].append(nz.float().mean(dim=1).cpu())
            values[name].append(rows[nz].cpu())

        return fn

    handles = [m.register_forward_hook(hook(n, int(getattr(m, "dim", -1)))) for n, m in mods]
    was_training = model.training
    model.eval()
    try:
        batches = [inputs] if isinstance(inputs, torch.Tensor) else inputs
        for batch in batches:
            model(batch)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    plt = _pyplot()
    fig, axes = plt.subplots(len(mods), 2, figsize=(9, 2.6 * len(mods)), squeeze=False)
    for r, (name, _) in enumerate(mods):
        frac = torch.cat(kept[name]) if kept[name] else torch.zeros(0)
        vals = torch.cat(values[name]) if values[name] else torch.zeros(0)
        axes[r, 0].hist(frac.numpy(), bins=30)
        axes[r, 0].set_title(f"{name}: kept fraction per row (mean {frac.mean():.3f})",
                             fontsize=8)
        axes[r, 0].set_xlabel("fraction of entries kept (non-zero) in a row", fontsize=8)
        axes[r, 0].set_ylabel("rows", fontsize=8)
        axes[r, 1].hist(vals.numpy(), bins=50)
        axes[r, 1].set_title(f"{name}: kept values", fontsize=8)
        axes[r, 1].set_xlabel("value of a kept entry", fontsize=8)
        axes[r, 1].set_ylabel("entries", fontsize=8)
    return fig


def plot_leaderboard(
    leaderboard: Any, path: str | Path, *, metric: str | None = None, top: int = 20
) -> Path:
    """Horizontal bars (mean ± std over seeds) of a leaderboard (``load_leaderboard``).

    ``metric`` is a :data:`~kanlab.results.leaderboard.METRICS` key (``test``, ``val``,
    ``test_selected``, ``test_rmse``, ...); default the table's primary metric (test
    accuracy, or test RMSE for regression). Anchors are drawn as hollow markers.
    """
    from kanlab.results.leaderboard import COLUMNS, METRICS, Leaderboard

    if not isinstance(leaderboard, Leaderboard):
        raise ValueError(
            f"`leaderboard` must be a Leaderboard, but got {type(leaderboard).__name__}."
        )
    metric = leaderboard.primary if metric is None else metric
    if metric not in METRICS:
        raise ValueError(
            f"`metric` must be one of {', '.join(METRICS)}, but got metric={metric!r}."
        )
    stats = [(r, s) for r in leaderboard.sorted_rows() if (s := r.stat(metric)) is not None]
    sign = 1.0 if METRICS[metric].descending else -1.0  # the best row is drawn on top
    stats = sorted(stats[:top], key=lambda rs: sign * rs[1].mean)
    rows = [r for r, _ in stats]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * (len(rows) + len(leaderboard.anchors)) + 1.2))
    labels = [f"{r.name} (n={r.n})" for r in rows]
    means = [s.mean for _, s in stats]
    stds = [s.std or 0.0 for _, s in stats]  # no std for n = 1
    ax.barh(labels, means, xerr=stds, capsize=3, color="tab:blue", alpha=0.8)
    if leaderboard.anchors:
        names = [f"anchor: {a.name}" for a in leaderboard.anchors]
        accs = [a.test_acc for a in leaderboard.anchors]
        errs = [a.std or 0.0 for a in leaderboard.anchors]
        ax.barh(names, accs, xerr=errs, capsize=3, color="none", edgecolor="tab:gray",
                hatch="//")
    lows = means + [a.test_acc for a in leaderboard.anchors]
    if lows and METRICS[metric].percent:
        ax.set_xlim(max(0.0, min(lows) - 3.0), min(100.0, max(lows) + 1.5))
    ax.set_xlabel(COLUMNS[metric].header)
    ax.set_title(f"{leaderboard.benchmark}: {COLUMNS[metric].header}", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, path)
