"""``kanlab train`` with ``trainer.devices: 2, strategy: ddp`` on CPU (gloo): Lightning starts
rank 1 by re-running the command; one run directory, one row, rank 0 reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXPERIMENT = {
    "name": "ddptrain",
    "model": {"name": "mlp", "widths": [2, 4, 1], "activation": "relu"},
    "data": {"name": "synthetic", "function": "xy", "n_train": 64, "n_val": 32, "n_test": 30,
             "batch_size": 16},
    "trainer": {"max_epochs": 2, "devices": 2, "strategy": "ddp", "accelerator": "cpu"},
}


@pytest.mark.slow  # two interpreters import torch and Lightning, then run two gloo ranks
def test_kanlab_train_ddp_writes_one_run_and_one_row(tmp_path: Path) -> None:
    spec = tmp_path / "ddptrain.yaml"
    spec.write_text(yaml.safe_dump(EXPERIMENT))
    out = tmp_path / "results"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, "-m", "kanlab.cli", "train", str(spec),
                          "--results-dir", str(out)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("run dir:") == 1  # rank 0 reports
    rows = (out / "synthetic" / "runs.jsonl").read_text().splitlines()
    assert len(rows) == 1
    row = json.loads(rows[0])
    assert row["status"] == "completed" and row["epochs"] == 2
    assert row["config"]["trainer"]["strategy"] == "ddp"
    assert [p.name for p in (out / "synthetic" / "runs").iterdir()] == [
        Path(row["run_dir"]).name]
