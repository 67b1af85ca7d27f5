"""``results/run_dir.py``: a committed run retrained on a machine without its run directory."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

from kanlab.config import config_hash
from kanlab.lit.train import train
from kanlab.provenance import machine
from kanlab.results.leaderboard import read_runs
from kanlab.results.verify import bits_known_on

REPO = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_dir", REPO / "results" / "run_dir.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_committed_row_is_retrained_with_its_config_hash_and_its_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The retrained config is the one ``kanlab reproduce`` plans (same hash as the row, under
    this code's defaults) and, at the row's thread count, it trains to the row's metrics: bit
    for bit on a CPU of the instruction set the table was verified on against its rows (float
    rounding depends on it: AVX2 and AVX512 kernels sum in other orders), to the row's fit
    elsewhere."""
    run_dir = _script()
    monkeypatch.chdir(REPO)
    bench = Path("results") / "function_fitting"
    rows = {r["name"]: r for r in read_runs(bench / "runs.jsonl") if r["seed"] == 0}
    row = rows["arctan_5d-af_kan"]
    cfg = run_dir._config(bench, row)
    assert config_hash(cfg) == row["config_hash"] and cfg.seed == 0
    threads = torch.get_num_threads()
    torch.set_num_threads(row["threads"])  # every committed row records its thread count
    try:
        result = train(cfg, results_dir=tmp_path, progress_bar=False)
    finally:
        torch.set_num_threads(threads)
    again = result.row
    assert again["config_hash"] == row["config_hash"]
    if machine()["cpu_capability"] in bits_known_on(bench, list(rows.values()), row["code_sha"]):
        assert again["best_epoch"] == row["best_epoch"]
        for key in ("val/loss", "test/loss", "test/r2"):  # bit for bit at the row's threads
            assert again["metrics"][key] == row["metrics"][key], key
    else:  # another rounding, another trajectory: the same fit, not the same bits
        assert again["metrics"]["test/r2"] == pytest.approx(row["metrics"]["test/r2"], abs=0.02)
