"""Plots: each kind writes a non-empty PNG (tiny real run where a run is needed)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import kanlab
from kanlab.cli import main
from kanlab.registry import LAYERS
from kanlab.results import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path, min_bytes: int = 2_000) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_MAGIC) and len(data) > min_bytes


def test_plot_activations_with_derivative(tmp_path: Path) -> None:
    out = plots.plot_activations(["relu", "silu", kanlab.create_activation("tanh")],
                                 tmp_path / "act.png")
    assert _is_png(out)
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_activations([], tmp_path / "x.png")


def test_plot_edges_with_fits(tmp_path: Path) -> None:
    layer = LAYERS.build("b_spline_kan", 2, 1)
    assert _is_png(plots.plot_edges(layer, tmp_path / "edges.png", fits=True))


def test_plot_skan_selection(tmp_path: Path) -> None:
    class _Fake(nn.Module):
        candidates = {"b_spline_kan": None, "relu_kan": None}

        def selection(self) -> torch.Tensor:
            return torch.tensor([0, 1, 1, 0])

    assert _is_png(plots.plot_skan_selection(_Fake(), tmp_path / "skan.png"), 1_000)
    with pytest.raises(ValueError, match="S-KAN"):
        plots.plot_skan_selection(nn.Linear(2, 2), tmp_path / "x.png")


def test_plot_topk_histogram(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(8, 16), kanlab.create_activation("topk", k=4))
    out = plots.plot_topk_histogram(model, torch.randn(32, 8), tmp_path / "topk.png")
    assert _is_png(out)
    with pytest.raises(ValueError, match="top-k"):
        plots.plot_topk_histogram(nn.Linear(2, 2), torch.randn(1, 2), tmp_path / "x.png")


def test_plot_study_history_and_importance(tmp_path: Path) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("a", 0, 1) + t.suggest_float("b", 0, 1) ** 2,
                   n_trials=8)
    for kind in ("history", "importance"):
        assert _is_png(plots.plot_study(storage, "s", tmp_path / f"{kind}.png", kind=kind))


def test_plot_study_cli_takes_a_path_and_names_a_missing_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = tmp_path / "s.db"
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{db}")
    study.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=3)
    out = tmp_path / "h.png"
    assert main(["plot", "study", "--storage", str(db), "--study", "s",
                 "--output", str(out)]) == 0  # a plain path, like the other commands
    assert _is_png(out)
    assert main(["plot", "study", "--storage", str(db), "--study", "ss"]) == 2
    assert "Unknown study 'ss' in sqlite:///" in capsys.readouterr().err


def test_plot_activation_cli_gives_each_activation_its_own_set_values(tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    assert main(["plot", "activation", "crrelu", "topk", "--set", "k=2", "--output",
                 str(out)]) == 0
    assert _is_png(out)


def test_plot_activation_cli(tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    assert main(["plot", "activation", "relu", "crrelu", "--output", str(out)]) == 0
    assert _is_png(out)
    assert main(["plot", "activation", "--output", str(out)]) == 2


def test_plot_leaderboard_cli(tmp_path: Path) -> None:
    bench = tmp_path / "toy"
    bench.mkdir()
    rows = [{"config_hash": f"h{i % 2}", "name": f"m{i % 2}", "seed": i, "benchmark": "toy",
             "metrics": {"test/acc": 0.8 + 0.01 * i, "val/acc": 0.8}} for i in range(4)]
    (bench / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "bars.png"
    assert main(["plot", "leaderboard", str(bench), "--output", str(out)]) == 0
    assert _is_png(out)


@pytest.mark.slow
def test_plots_from_a_tiny_real_run(tmp_path: Path) -> None:
    from kanlab.config import load_experiment
    from kanlab.lit.train import train

    cfg = load_experiment({
        "name": "tiny", "model": {"name": "kan_mlp", "widths": [784, 3, 10],
                                  "layer": {"name": "b_spline_kan", "grid_size": 3}},
        "data": {"name": "tiny_fashion_mnist", "batch_size": 100},
        "trainer": {"max_epochs": 1, "progress_bar": False},
    })
    run = train(cfg, results_dir=tmp_path, progress_bar=False).run_dir
    for kind, args in (("edges", [str(run)]), ("activation", ["--run", str(run)])):
        out = tmp_path / f"{kind}.png"
        if kind == "activation":
            code = main(["plot", "activation", *args, "--output", str(out)])
            assert code in (0, 2)  # b_spline_kan models may hold no standalone activation
            continue
        assert main(["plot", kind, *args, "--output", str(out)]) == 0
        assert _is_png(out)
    assert main(["symbolic", str(run), "--max-edges", "4"]) == 0


def _study_with_pruned_trials(storage: str) -> None:
    """Five trials of a maximised metric named val/acc; trials 1 and 3 are pruned."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["val/acc"])

    def objective(trial: optuna.Trial) -> float:
        a = trial.suggest_float("a", 0, 1)
        b = trial.suggest_float("b", 0, 1)
        trial.report(a * b, step=0)
        trial.report(a * b + 0.1, step=1)
        if trial.number in (1, 3):
            raise optuna.TrialPruned()
        return a + b

    study.optimize(objective, n_trials=5)


def test_study_history_shows_pruned_trials_integer_ticks_and_the_metric(tmp_path: Path) -> None:
    import optuna

    storage = f"sqlite:///{tmp_path / 's.db'}"
    _study_with_pruned_trials(storage)
    study = optuna.load_study(study_name="s", storage=storage)
    fig = plots.study_figure(study, kind="history")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "val/acc" and ax.get_xlabel() == "trial"
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)        # no 0.5 trial ticks
    pruned = next(c for c in ax.collections if "pruned" in str(c.get_label()))
    trials = study.get_trials()
    assert sorted(pruned.get_offsets()[:, 0].tolist()) == [1, 3]
    expected = [t.intermediate_values[1] for t in trials if t.number in (1, 3)]
    assert sorted(pruned.get_offsets()[:, 1].tolist()) == pytest.approx(sorted(expected))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "3 completed" in legend and "2 pruned (last reported value)" in legend


def test_plot_study_importance_writes_its_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    _study_with_pruned_trials(storage)
    monkeypatch.setenv("KANLAB_RESULTS", str(tmp_path / "results"))
    for what in ("history", "importance"):
        assert main(["plot", "study", "--storage", storage, "--study", "s", "--what", what]) == 0
    plots_dir = tmp_path / "results" / "plots"
    assert sorted(p.name for p in plots_dir.iterdir()) == ["study_history.png",
                                                            "study_importance.png"]
    assert all(_is_png(p) for p in plots_dir.iterdir())


def test_importance_axis_names_the_metric(tmp_path: Path) -> None:
    import optuna

    storage = f"sqlite:///{tmp_path / 's.db'}"
    _study_with_pruned_trials(storage)
    fig = plots.study_figure(optuna.load_study(study_name="s", storage=storage),
                             kind="importance")
    assert "val/acc" in fig.axes[0].get_xlabel()


def test_topk_histograms_have_axis_labels() -> None:
    model = nn.Sequential(nn.Linear(8, 16), kanlab.create_activation("topk", k=4))
    fig = plots.topk_histogram_figure(model, torch.randn(32, 8))
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()


class _Selection(nn.Module):
    candidates = {"b_spline_kan": None, "relu_kan": None}

    def __init__(self, selection: torch.Tensor) -> None:
        super().__init__()
        self.chosen = selection

    def selection(self) -> torch.Tensor:
        return self.chosen


def test_skan_heatmap_ticks_are_indices() -> None:
    layer = LAYERS.build("s_kan", 3, 5)                   # selection(): one index per output
    fig = plots.skan_selection_figure(layer)
    ax = fig.axes[0]
    assert list(ax.get_yticks()) == []                    # one row: no meaningless -0.5..0.5
    assert all(float(t).is_integer() for t in ax.get_xticks())
    fig = plots.skan_selection_figure(_Selection(torch.randint(0, 2, (3, 5))))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "output"
    assert all(float(t).is_integer() for t in ax.get_yticks())
    assert fig.axes[1].get_ylabel() == "selected candidate"
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["b_spline_kan", "relu_kan"]


def test_edge_grid_has_a_legend_and_zero_based_labels() -> None:
    layer = LAYERS.build("b_spline_kan", 2, 1)
    fig = plots.edges_figure(layer, fits=True)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["edge φ (sampled)", "symbolic fit"]
    grid = fig.axes
    assert [ax.get_xlabel() for ax in grid] == ["x_0", "x_1"]
    assert grid[0].get_ylabel() == "φ[0,·]"
