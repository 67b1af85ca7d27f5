"""A 2,000-trial study can be listed, shown, exported and turned into a leaderboard.

(``bench/search.py --large`` times the same commands; here they must just work and read the
study correctly.)
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from kanlab.cli import main
from kanlab.search._toy import fill_study

N = 2000


@pytest.fixture(scope="module")
def large_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"journal:{tmp_path_factory.mktemp('large')}/large.log"
    fill_study(url, "large", N)
    return url


def test_large_study_list_show_best(large_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "list", "--storage", large_url]) == 0
    assert f"large: {N} finished, 0 running, 0 failed" in capsys.readouterr().out
    assert main(["study", "show", "--storage", large_url, "--study", "large"]) == 0
    out = capsys.readouterr().out
    assert f"{N} finished trials (0 failed, 0 running)." in out and "Best: trial" in out
    assert main(["study", "best", "--storage", large_url, "--study", "large"]) == 0
    best = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert best["rerun"].startswith("kanlab train")


def test_large_study_export_and_leaderboard(large_url: str, results_dir: Path) -> None:
    assert main(["study", "export", "--storage", large_url, "--study", "large"]) == 0
    out = results_dir / "synthetic" / "studies"
    with (out / "large.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == N and {r["state"] for r in rows} == {"COMPLETE", "PRUNED"}
    doc = json.loads((out / "large.json").read_text())
    complete = [t for t in doc["trials"] if t["state"] == "COMPLETE"]
    assert doc["best_trials"] == [max(complete, key=lambda t: t["values"][0])["number"]]
    assert main(["leaderboard", str(results_dir / "synthetic"), "--quiet"]) == 0
    assert "large" in (results_dir / "synthetic" / "leaderboard.md").read_text()
