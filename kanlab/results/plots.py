"""Figures (matplotlib, Agg backend, PNG): activations, KAN edges, S-KAN selections, studies,
top-k sparsity and leaderboard bars.

Every ``plot_*`` function writes one PNG and returns its path. They take modules or data, not
run directories; :mod:`kanlab.results.cli` does the loading (``kanlab.lit.load_run``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kanlab.registry import ACTIVATIONS

__all__ = [
    "plot_activations",
    "plot_edges",
    "plot_leaderboard",
    "plot_skan_selection",
    "plot_study",
    "plot_topk_histogram",
    "sparsity_modules",
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
    """
    from kanlab.results.symbolic import edge_curves, fit_function

    xs, phi, _ = edge_curves(layer, x_range, n)
    amp = phi.amax(dim=2) - phi.amin(dim=2)                              # (O, I)
    outs = torch.argsort(amp.sum(dim=1), descending=True)[:max_out].sort().values.tolist()
    ins = torch.argsort(amp.sum(dim=0), descending=True)[:max_in].sort().values.tolist()
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(outs), len(ins), figsize=(2.2 * len(ins), 1.8 * len(outs)), squeeze=False,
        sharex=True,
    )
    for r, o in enumerate(outs):
        for c, i in enumerate(ins):
            ax = axes[r, c]
            ax.plot(xs, phi[o, i], lw=1.5)
            if fits:
                fit = fit_function(xs, phi[o, i])
                ax.plot(xs, fit(xs), "--", lw=1)
                ax.set_title(f"{fit.function} R²={fit.r2:.3f}", fontsize=7)
            ax.tick_params(labelsize=6)
            if r == len(outs) - 1:
                ax.set_xlabel(f"x_{i + 1}", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"φ[{o + 1},·]", fontsize=7)
    fig.suptitle(f"{type(layer).__name__} edge functions", fontsize=9)
    return _save(fig, path)


def plot_skan_selection(module: nn.Module, path: str | Path) -> Path:
    """Heat map of which candidate basis each S-KAN edge selected (or its selection weights).

    Looks for a ``selection`` attribute: an integer map ``(O, I)`` / ``(I,)`` of candidate
    indices, or a float map ``(..., n_candidates)`` of weights (argmax is shown). Candidate
    names come from ``candidates`` (name -> layer) when present.

    Raises:
        ValueError: if the module exposes no selection.
    """
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
                                    min(8, 1 + 0.25 * grid.shape[0])))
    cmap = plt.get_cmap("tab10", n_cand)
    im = ax.imshow(grid.numpy(), cmap=cmap, vmin=-0.5, vmax=n_cand - 0.5, aspect="auto",
                   interpolation="nearest")
    bar = fig.colorbar(im, ax=ax, ticks=range(n_cand))
    if names:
        bar.ax.set_yticklabels(names[:n_cand] + [""] * (n_cand - len(names)))
    ax.set_xlabel("output node" if per_output else "input")
    ax.set_ylabel("" if per_output else "output")
    counts = torch.bincount(grid.reshape(-1), minlength=n_cand).tolist()
    summary = ", ".join(
        f"{names[k] if k < len(names) else k}: {c}" for k, c in enumerate(counts) if c
    )
    ax.set_title(f"S-KAN selection ({summary})", fontsize=8)
    return _save(fig, path)


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
    """Optuna's matplotlib visualisation of a stored study.

    Args:
        storage: Storage URL (``sqlite:///results/studies/x.db``, PostgreSQL, ...).
        study_name: The study's name.
        path: PNG to write.
        kind: ``history`` (optimisation history), ``importance`` (fANOVA parameter
            importance) or ``pareto`` (Pareto front of a multi-objective study).
        target_index: Objective shown by history/importance in multi-objective studies.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    import warnings

    import optuna
    from optuna.visualization import matplotlib as ovm

    from kanlab.registry import suggest

    if kind not in STUDY_KINDS:
        raise ValueError(
            f"`kind` must be one of {', '.join(STUDY_KINDS)}, but got kind={kind!r}."
            f"{suggest(kind, STUDY_KINDS)}"
        )
    study = optuna.load_study(study_name=study_name, storage=storage)
    multi = len(study.directions) > 1
    target = (lambda t: t.values[target_index]) if multi and kind != "pareto" else None
    plt = _pyplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning of the matplotlib backend
        if kind == "history":
            ovm.plot_optimization_history(study, target=target)
        elif kind == "importance":
            ovm.plot_param_importances(study, target=target)
        else:
            ovm.plot_pareto_front(study)
    fig = plt.gcf()
    fig.set_size_inches(7, 4.5)
    return _save(fig, path)


def sparsity_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Non-elementwise activations (top-k family) inside ``model``."""
    classes = {
        e.target for e in ACTIVATIONS.entries() if e.meta.get("elementwise") is False
    }
    return [(n or type(m).__name__, m) for n, m in model.named_modules() if type(m) in classes]


@torch.no_grad()
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
        axes[r, 1].hist(vals.numpy(), bins=50)
        axes[r, 1].set_title(f"{name}: kept values", fontsize=8)
    return _save(fig, path)


def plot_leaderboard(
    leaderboard: Any, path: str | Path, *, metric: str = "test", top: int = 20
) -> Path:
    """Horizontal bars (mean ± std over seeds) of a leaderboard (``load_leaderboard``).

    ``metric`` is ``test``, ``val`` or ``test_selected``; anchors are drawn as hollow markers.
    """
    from kanlab.results.leaderboard import COLUMNS, Leaderboard

    if not isinstance(leaderboard, Leaderboard):
        raise ValueError(
            f"`leaderboard` must be a Leaderboard, but got {type(leaderboard).__name__}."
        )
    attr = {"test": "test_acc", "val": "val_acc", "test_selected": "test_selected"}
    if metric not in attr:
        raise ValueError(
            f"`metric` must be one of {', '.join(attr)}, but got metric={metric!r}."
        )
    rows = [r for r in leaderboard.sorted_rows() if getattr(r, attr[metric]) is not None][:top]
    rows = sorted(rows, key=lambda r: getattr(r, attr[metric]).mean)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * (len(rows) + len(leaderboard.anchors)) + 1.2))
    labels = [f"{r.name} (n={r.n})" for r in rows]
    means = [getattr(r, attr[metric]).mean for r in rows]
    stds = [getattr(r, attr[metric]).std or 0.0 for r in rows]  # no std for n = 1
    ax.barh(labels, means, xerr=stds, capsize=3, color="tab:blue", alpha=0.8)
    if leaderboard.anchors:
        names = [f"anchor: {a.name}" for a in leaderboard.anchors]
        accs = [a.test_acc for a in leaderboard.anchors]
        errs = [a.std or 0.0 for a in leaderboard.anchors]
        ax.barh(names, accs, xerr=errs, capsize=3, color="none", edgecolor="tab:gray",
                hatch="//")
    lows = means + [a.test_acc for a in leaderboard.anchors]
    if lows:
        ax.set_xlim(max(0.0, min(lows) - 3.0), min(100.0, max(lows) + 1.5))
    ax.set_xlabel(COLUMNS[metric].header)
    ax.set_title(f"{leaderboard.benchmark}: {COLUMNS[metric].header}", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, path)
