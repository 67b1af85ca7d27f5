"""Training loggers by name: ``trainer.loggers: [csv, tensorboard, mlflow]``.

``csv`` (Lightning's ``CSVLogger``, ``<run dir>/metrics.csv``) is always written: ``runs.jsonl``
rows, ``--resume`` and the leaderboards read it. The others are optional extras:

- ``tensorboard``: event files in the run directory itself (``pip install kanlab[tensorboard]``),
  so ``tensorboard --logdir <results>/<benchmark>/runs`` shows every run — and every trial of
  a study, whose run directories lie there too — in one TensorBoard.
- ``mlflow``: an MLflow run per training run in the file store ``<results>/mlruns``
  (``pip install kanlab[mlflow]``; ``mlflow ui --backend-store-uri <results>/mlruns``); the
  MLflow experiment is the study for search trials, else the benchmark.

A missing package is reported before anything is created, in one line naming the extra.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kanlab.errors import SetupError

__all__ = ["LOGGERS", "build_loggers", "check_loggers"]

# name -> (modules that provide it (any one), extra that installs it)
LOGGERS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "csv": ((), None),
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "mlflow": (("mlflow",), "mlflow"),
}


def check_loggers(names: Sequence[str]) -> None:
    """Each optional logger's package is installed.

    Raises:
        SetupError: one line naming the extra to install.
    """
    for name in names:
        modules, extra = LOGGERS[name]
        if modules and not any(importlib.util.find_spec(m) for m in modules):
            raise SetupError(
                f"`trainer.loggers` includes {name!r}, but {modules[0]} is not installed: "
                f"pip install 'kanlab[{extra}]'."
            )


def build_loggers(
    names: Sequence[str],
    *,
    run_dir: Path,
    results_dir: Path,
    experiment: str,
    tags: Mapping[str, Any] | None = None,
) -> list[Any]:
    """The Lightning loggers for ``names``; the CSV logger comes first and is always there."""
    from lightning.pytorch.loggers import CSVLogger

    check_loggers(names)
    loggers: list[Any] = [CSVLogger(save_dir=run_dir, name="", version="")]
    if "tensorboard" in names:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=run_dir, name="", version="",
                                         default_hp_metric=False))
    if "mlflow" in names:
        from lightning.pytorch.loggers import MLFlowLogger

        loggers.append(MLFlowLogger(
            experiment_name=experiment,
            run_name=run_dir.name,
            tracking_uri=(results_dir / "mlruns").resolve().as_uri(),
            tags={k: str(v) for k, v in (tags or {}).items()},
        ))
    return loggers
