"""``kanlab demo``: stops at once without the data, starts afresh each time, finishes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kanlab.cli import main
from kanlab.demo import MARKER, STUDY_NAME, fresh_dir
from kanlab.errors import UsageError


def test_without_fashion_mnist_the_demo_stops_before_anything_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine without the Debian package and an empty data dir (and no network)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("KANLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("KANLAB_SYSTEM_DATASETS", str(empty))  # package absent
    monkeypatch.setenv("KANLAB_OFFLINE", "1")  # no download
    started = time.perf_counter()
    assert main(["demo", "--results-dir", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Fashion-MNIST is not installed" in err
    assert "apt-get install -y dataset-fashion-mnist" in err
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists()  # no study, no run dir
    print(f"stopped after {time.perf_counter() - started:.1f} s")


def test_fresh_dir_replaces_an_earlier_demo_and_refuses_foreign_files(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    fresh_dir(root)
    assert (root / MARKER).is_file()
    (root / "studies").mkdir()
    (root / "studies" / f"{STUDY_NAME}.db").write_text("an earlier, broken attempt")
    fresh_dir(root)
    assert sorted(p.name for p in root.iterdir()) == [MARKER]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="holds files the demo did not make"):
        fresh_dir(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_demo_reruns_do_not_carry_failed_trials_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    from kanlab.search.storage import open_storage

    root = tmp_path / "demo"
    fresh_dir(root)
    (root / "studies").mkdir()
    url = f"sqlite:///{root}/studies/{STUDY_NAME}.db"
    broken = optuna.create_study(study_name=STUDY_NAME, storage=url, direction="maximize")
    broken.tell(broken.ask(), state=optuna.trial.TrialState.FAIL)  # an earlier broken attempt
    assert main(["demo", "--n-trials", "1", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "demo results:" in out
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(url))
    states = [t.state for t in study.trials]
    assert len(states) == 1 and states[0] in (optuna.trial.TrialState.COMPLETE,
                                              optuna.trial.TrialState.PRUNED)
    assert study.trials[0].number == 0  # trial 0's seed, as on a first demo
    assert (root / "fashion_mnist" / "studies" / f"{STUDY_NAME}.csv").is_file()
