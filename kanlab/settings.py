"""Every environment switch kanlab reads, read here and nowhere else.

Each function reads its variable when called (so a test or a parent process may set it at any
time) and returns ``None`` (or the documented default) when it is unset or empty. An explicit
argument always wins over the environment: callers pass what the user gave and fall back to
these functions only when nothing was given (``compile_kernels=None``, no ``--results-dir``,
no ``data.data_dir``). README.md has the same table (``tests/test_settings.py`` checks both
name the same switches and that no other module reads a ``KANLAB_*`` variable).

The ``KANLAB_TOY_*`` switches are test hooks of the toy search objective
(:mod:`kanlab.testing`), not user settings.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DDP_RUN_DIR",
    "INTERNAL",
    "SWITCHES",
    "TEST_HOOKS",
    "compile_kernels",
    "data_dir",
    "db_password",
    "ddp_run_dir",
    "epoch_steps",
    "malloc_tuning",
    "offline",
    "results_dir",
    "start_method",
    "system_datasets",
    "toy_epochs",
    "toy_fail",
    "toy_sleep",
]

SWITCHES: dict[str, str] = {
    "KANLAB_RESULTS": "where commands write when `--results-dir` is not given "
                      "(default `./results/local`)",
    "KANLAB_DATA": "where data sets live when `data.data_dir` is not set "
                   "(default `~/.cache/kanlab`)",
    "KANLAB_OFFLINE": "`1`/`true`/`yes`: never download a data set (missing files are an error)",
    "KANLAB_SYSTEM_DATASETS": "root of system-installed data sets (default `/usr/share/datasets`,"
                              " Debian's `dataset-fashion-mnist`)",
    "KANLAB_DB_PASSWORD": "password for a PostgreSQL storage URL that has none (never printed)",
    "KANLAB_START_METHOD": "`fork`/`spawn`/`forkserver`: how local search workers start "
                           "(default: kanlab's choice)",
    "KANLAB_COMPILE": "`0`/`1`: default of the layers' `compile_kernels=None` (an explicit "
                      "`compile_kernels=True/False` wins)",
    "KANLAB_MALLOC": "`0`: leave glibc's allocator alone in the commands that train",
    "KANLAB_EPOCH_STEPS": "`0`: `kanlab train` runs Lightning's per-batch training and "
                          "evaluation loops instead of one step per epoch and per evaluation "
                          "pass (same numbers, slower)",
}
"""User settings: name -> what it does (the README table)."""

TEST_HOOKS: dict[str, str] = {
    "KANLAB_TOY_EPOCHS": "epochs of the toy search objective (default 3)",
    "KANLAB_TOY_SLEEP": "seconds the toy objective sleeps per epoch (default 0)",
    "KANLAB_TOY_FAIL": "every toy trial fails: `setup` with a `SetupError`, any other value "
                       "with a `RuntimeError`",
}
"""Test hooks of :mod:`kanlab.search._toy` (documented in :mod:`kanlab.testing`)."""

DDP_RUN_DIR = "KANLAB_DDP_RUN_DIR"
"""The one internal switch's name (``kanlab.lit.train`` sets it for the ranks it launches)."""

INTERNAL: dict[str, str] = {
    DDP_RUN_DIR: "set by `kanlab train` under `strategy: ddp` for the ranks Lightning "
                          "launches: rank 0's run directory (never set it yourself)",
}
"""Switches kanlab sets for the processes it starts (the README table lists them too)."""


def _get(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _truthy(name: str) -> bool:
    return (_get(name) or "").lower() in ("1", "true", "yes")


def results_dir() -> Path | None:
    """``$KANLAB_RESULTS``."""
    value = _get("KANLAB_RESULTS")
    return Path(value) if value else None


def data_dir() -> Path | None:
    """``$KANLAB_DATA``."""
    value = _get("KANLAB_DATA")
    return Path(value) if value else None


def offline() -> bool:
    """``$KANLAB_OFFLINE`` set to a true value: never try to download."""
    return _truthy("KANLAB_OFFLINE")


def system_datasets() -> Path | None:
    """``$KANLAB_SYSTEM_DATASETS`` (tests point it at an empty directory)."""
    value = _get("KANLAB_SYSTEM_DATASETS")
    return Path(value) if value else None


def db_password() -> str | None:
    """``$KANLAB_DB_PASSWORD`` (as set: a password's spaces are not stripped)."""
    return os.environ.get("KANLAB_DB_PASSWORD") or None


def ddp_run_dir() -> Path | None:
    """``$KANLAB_DDP_RUN_DIR`` (internal: rank 0's run directory, for the ranks it launched)."""
    value = _get(DDP_RUN_DIR)
    return Path(value) if value else None


def start_method() -> str | None:
    """``$KANLAB_START_METHOD`` (checked by the caller, which knows the allowed methods)."""
    return _get("KANLAB_START_METHOD")


def compile_kernels() -> bool | None:
    """``$KANLAB_COMPILE``: ``0`` -> False, ``1`` -> True, otherwise ``None`` (no default set)."""
    return {"0": False, "1": True}.get(_get("KANLAB_COMPILE") or "")


def epoch_steps() -> bool:
    """``$KANLAB_EPOCH_STEPS`` is not ``0``."""
    return _get("KANLAB_EPOCH_STEPS") != "0"


def malloc_tuning() -> bool:
    """``$KANLAB_MALLOC`` is not ``0``."""
    return _get("KANLAB_MALLOC") != "0"


def toy_epochs() -> int:
    """Test hook ``$KANLAB_TOY_EPOCHS`` (default 3)."""
    return int(_get("KANLAB_TOY_EPOCHS") or 3)


def toy_sleep() -> float:
    """Test hook ``$KANLAB_TOY_SLEEP`` (default 0)."""
    return float(_get("KANLAB_TOY_SLEEP") or 0)


def toy_fail() -> str | None:
    """Test hook ``$KANLAB_TOY_FAIL``."""
    return _get("KANLAB_TOY_FAIL")
