"""``python -m bench NAME --record``: the output becomes committed data with its provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench._record import recorded
from kanlab.provenance import code_version


def test_recorded_output_carries_code_threads_and_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KANLAB_BENCH_DIR", str(tmp_path))
    with recorded("toy", ["--quick"]):
        print("speed-up 7.3x")
    assert "speed-up 7.3x" in capsys.readouterr().out  # still printed
    data = json.loads((tmp_path / "toy.json").read_text())
    assert data["output"] == "speed-up 7.3x\n" and data["bench"] == "toy"
    assert data["argv"] == ["python", "-m", "bench", "toy", "--quick"]
    code = code_version()
    assert (data["git_sha"], data["code_sha"]) == (code.git_sha, code.code_sha)
    assert data["threads"] == torch.get_num_threads()
    assert data["machine"]["torch"] == torch.__version__ and data["machine"]["cpu_count"] >= 1
    assert data["machine"]["platform"] and data["machine"]["cpu_capability"] is not None
    # the machine is shared: the load around the run is part of the record
    assert all(len(data[k]) == 3 and min(data[k]) >= 0
               for k in ("load_average_before", "load_average_after"))
