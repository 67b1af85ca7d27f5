"""The files of a run: its directory, ``config.yaml``, the merged ``metrics.csv`` and the row.

:func:`open_run_files` creates (or reuses) the run directory
``<results_dir>/<benchmark>/runs/<name>-<config_hash>-s<seed>-<UTC time>/`` and writes the
resolved config; :func:`merge_csv` puts an interrupted run's metrics before the resumed run's;
:func:`append_row` appends a ``runs.jsonl`` row under a file lock. :class:`RunIdentity` carries
the config's plain form and hash, computed once per run (:func:`kanlab.lit.train.train`).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from kanlab.config import ExperimentConfig, dump_yaml
from kanlab.lit.interrupt import CtrlC
from kanlab.lit.ranks import launched_rank_run_dir

__all__ = ["RunFiles", "RunIdentity", "append_row", "merge_csv", "new_run_dir",
           "open_run_files"]


@dataclass(frozen=True)
class RunIdentity:
    """The config with its plain form and hash, computed once per run and passed on."""

    cfg: ExperimentConfig
    resolved: dict[str, Any]  # kanlab.config.to_dict(cfg)
    config_hash: str


@dataclass
class RunFiles:
    """The run directory :func:`open_run_files` prepared, and the Ctrl-C handler for it."""

    run_dir: Path
    created: bool  # a fresh directory (removed again when the run leaves no result)
    earlier_csv: Path  # an interrupted run's metrics.csv, merged after a resumed fit
    ctrl_c: CtrlC


def append_row(path: Path, row: Mapping[str, Any]) -> None:
    """Append one JSON line under a file lock, so concurrent writers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(row, default=str, allow_nan=True) + "\n"
    with FileLock(str(path) + ".lock"), open(path, "ab+") as f:
        size = f.seek(0, os.SEEK_END)
        if size:  # a row cut short before (no final newline) stays on its own line
            f.seek(size - 1)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def new_run_dir(results_dir: Path, cfg: ExperimentConfig, config_hash: str) -> Path:
    """A fresh ``<results_dir>/<benchmark>/runs/<name>-<config_hash>-s<seed>-<UTC time>``."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    leaf = f"{cfg.name}-{config_hash}-s{cfg.seed}-{stamp}"
    base = results_dir / cfg.results_group / "runs" / leaf
    for i in range(1000):
        path = base if i == 0 else base.with_name(f"{base.name}-{i}")
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"Could not create a fresh run directory next to {base}.")


def merge_csv(earlier: Path, path: Path) -> None:
    """Put the rows of an interrupted run's ``metrics.csv`` before the resumed run's rows."""
    tables = []
    for source in (earlier, path):
        if source.is_file():
            with open(source, newline="") as f:
                tables.append(list(csv.DictReader(f)))
    columns = sorted({key for rows in tables for row in rows for key in row})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for rows in tables:
            writer.writerows(rows)
    earlier.unlink()


def open_run_files(ident: RunIdentity, results_dir: Path, run_dir: Path | None, *,
                   resume: bool) -> RunFiles:
    """The run directory (fresh unless given) with ``config.yaml``; a resumed run's
    ``metrics.csv`` set aside for :func:`merge_csv`."""
    created = run_dir is None
    if run_dir is None:
        run_dir = launched_rank_run_dir() or new_run_dir(results_dir, ident.cfg,
                                                          ident.config_hash)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_yaml(ident.resolved))
    earlier_csv = run_dir / "metrics.before-resume.csv"
    if resume and (run_dir / "metrics.csv").is_file():
        (run_dir / "metrics.csv").replace(earlier_csv)
    return RunFiles(run_dir, created, earlier_csv, CtrlC())
