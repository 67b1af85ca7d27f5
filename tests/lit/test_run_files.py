"""The run's files: run directory, config.yaml, merged metrics.csv, runs.jsonl rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from kanlab.config import config_hash, load_experiment, to_dict
from kanlab.lit.run_files import (
    RunIdentity,
    append_row,
    merge_csv,
    new_run_dir,
    open_run_files,
)

RAW = {"name": "fit", "seed": 3, "benchmark": "walk",
       "model": {"name": "mlp", "widths": [2, 4, 1]},
       "data": {"name": "synthetic", "n_train": 16, "n_val": 8, "n_test": 8}}


def _ident() -> RunIdentity:
    cfg = load_experiment(RAW)
    return RunIdentity(cfg, to_dict(cfg), config_hash(cfg))


def test_new_run_dir_is_named_after_config_hash_and_seed_and_never_reused(tmp_path: Path) -> None:
    ident = _ident()
    first = new_run_dir(tmp_path, ident.cfg, ident.config_hash)
    second = new_run_dir(tmp_path, ident.cfg, ident.config_hash)
    assert first.parent == tmp_path / "walk" / "runs"
    assert first.name.startswith(f"fit-{ident.config_hash}-s3-")
    assert second != first and second.is_dir()


def test_open_run_files_writes_resolved_config_and_sets_aside_metrics_on_resume(
    tmp_path: Path,
) -> None:
    ident = _ident()
    files = open_run_files(ident, tmp_path, None, resume=False)
    assert files.created and load_experiment(files.run_dir / "config.yaml") == ident.cfg
    (files.run_dir / "metrics.csv").write_text("epoch\n0\n")
    again = open_run_files(ident, tmp_path, files.run_dir, resume=True)
    assert not again.created and again.run_dir == files.run_dir
    assert again.earlier_csv.read_text() == "epoch\n0\n"
    assert not (files.run_dir / "metrics.csv").exists()


def test_merge_csv_puts_earlier_rows_first_under_the_union_of_columns(tmp_path: Path) -> None:
    earlier, path = tmp_path / "before.csv", tmp_path / "metrics.csv"
    earlier.write_text("epoch,val/loss\n0,1.5\n")
    path.write_text("epoch,lr\n1,0.1\n")
    merge_csv(earlier, path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"epoch": "0", "lr": "", "val/loss": "1.5"},
                    {"epoch": "1", "lr": "0.1", "val/loss": ""}]
    assert not earlier.exists()


def test_append_row_keeps_a_cut_row_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "b" / "runs.jsonl"
    append_row(path, {"a": 1})
    with open(path, "a") as f:
        f.write('{"cut": ')  # a writer killed mid-line
    append_row(path, {"b": float("nan")})
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"a": 1} and lines[1] == '{"cut": '
    assert lines[2] == '{"b": NaN}'
