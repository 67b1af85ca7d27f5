"""``trainer.loggers``: TensorBoard event files next to the (unchanged) CSV log; missing extras."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from kanlab.config import ConfigError, load_experiment
from kanlab.errors import SetupError
from kanlab.lit import train
from kanlab.lit.loggers import check_loggers

BASE: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "model": {"name": "mlp", "widths": [784, 16, 10]},
    "data": {"name": "tiny_fashion_mnist", "batch_size": 100},
    "optim": {"name": "adamw", "lr": 1e-3},
    "trainer": {"max_epochs": 2, "progress_bar": False, "checkpoint": False},
}


def _csv(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_tensorboard_events_next_to_an_unchanged_csv(data_dir: str, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    plain = train(load_experiment(BASE, [f"data.data_dir={data_dir}"]),
                  results_dir=tmp_path / "plain")
    both = train(load_experiment(BASE, [f"data.data_dir={data_dir}",
                                        "trainer.loggers=[csv, tensorboard]"]),
                 results_dir=tmp_path / "both")
    assert not list(plain.run_dir.glob("events.out.tfevents.*"))
    assert list(both.run_dir.glob("events.out.tfevents.*"))  # fit's and test's writers
    acc = EventAccumulator(str(both.run_dir))  # reads every event file of the run dir
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"val/acc", "train/loss", "test/acc"} <= set(tags), tags
    val_acc = [e.value for e in acc.Scalars("val/acc")]
    assert len(val_acc) == 2  # one per epoch

    # The CSV is what it was without TensorBoard: same columns, same values (same seed).
    rows_plain, rows_both = _csv(plain.run_dir), _csv(both.run_dir)
    assert rows_plain and list(rows_plain[0]) == list(rows_both[0])
    assert [r["val/acc"] for r in rows_plain] == [r["val/acc"] for r in rows_both]
    csv_val = [float(r["val/acc"]) for r in rows_both if r["val/acc"]]
    assert val_acc == pytest.approx(csv_val)
    assert both.row["config_hash"] == plain.row["config_hash"]  # loggers do not change a config


def test_a_missing_logger_package_names_the_extra(data_dir: str, tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("mlflow") is not None:
        pytest.skip("mlflow is installed here")
    with pytest.raises(SetupError, match=r"pip install 'kanlab\[mlflow\]'"):
        check_loggers(["csv", "mlflow"])
    cfg = load_experiment(BASE, [f"data.data_dir={data_dir}", "trainer.loggers=[mlflow]"])
    with pytest.raises(SetupError, match="mlflow is not installed"):
        train(cfg, results_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


def test_unknown_logger_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"`trainer.loggers` must hold .* 'tensorbaord'\. "
                                          r"Did you mean 'tensorboard'\?"):
        load_experiment(BASE, ["trainer.loggers=[csv, tensorbaord]"])


def test_study_trials_log_into_their_run_dirs_one_tensorboard_shows_the_study(
    data_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    from kanlab.cli import main

    spec = {
        "name": "tb_study",
        "base": {**BASE, "trainer": {"max_epochs": 1, "checkpoint": False}},
        "n_trials": 2,
        "sampler": {"name": "random", "seed": 0},
        "pruner": {"name": "none"},
        "space": {"model.activation": {"categorical": ["relu", "silu"]}},
    }
    path = tmp_path / "tb_study.yaml"
    path.write_text(yaml.safe_dump(spec))
    results = tmp_path / "results"
    assert main(["search", str(path), "--results-dir", str(results), "--set",
                 f"data.data_dir={data_dir}", "trainer.loggers=[csv, tensorboard]"]) == 0
    runs = results / "tiny_fashion_mnist" / "runs"
    trial_dirs = sorted(runs.iterdir())
    assert len(trial_dirs) == 2 and all(d.name.startswith("tb_study-") for d in trial_dirs)
    board = EventMultiplexer().AddRunsFromDirectory(str(runs))  # `tensorboard --logdir runs`
    board.Reload()
    assert sorted(board.Runs()) == [d.name for d in trial_dirs]
    for run in board.Runs():
        assert "val/acc" in board.GetAccumulator(run).Tags()["scalars"]
    for d in trial_dirs:
        assert (d / "metrics.csv").is_file()
