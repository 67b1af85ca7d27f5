"""Ctrl-C: the run directory kept (resumable) or removed, and the message saying what next."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from kanlab.lit.interrupt import CtrlC, drop_run_dir, interrupted


def _run_dir(root: Path, *, ckpt: bool) -> Path:
    run_dir = root / "bench" / "runs" / "r"
    run_dir.mkdir(parents=True)
    if ckpt:
        (run_dir / "last.ckpt").write_bytes(b"x")
    return run_dir


def test_a_run_with_last_ckpt_is_kept_with_the_resume_command(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, ckpt=True)
    exc = interrupted(run_dir, created=True)
    assert "kanlab train --resume" in str(exc) and str(run_dir) in str(exc)
    assert run_dir.is_dir()


def test_a_fresh_run_without_checkpoint_is_removed(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, ckpt=False)
    assert "rerun the same command" in str(interrupted(run_dir, created=True))
    assert not run_dir.exists()


def test_a_search_trial_run_dir_is_always_dropped_with_its_empty_parents(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, ckpt=True)
    assert "removed" in str(interrupted(run_dir, created=True, trial=True))
    assert not (tmp_path / "bench").exists() and tmp_path.is_dir()


def test_drop_run_dir_leaves_parents_that_hold_other_runs(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path, ckpt=False)
    (run_dir.parent / "other").mkdir()
    drop_run_dir(run_dir)
    assert not run_dir.exists() and (run_dir.parent / "other").is_dir()


def test_ctrl_c_handler_is_installed_restored_and_raises_at_the_next_batch() -> None:
    ctrl_c = CtrlC()
    before = signal.getsignal(signal.SIGINT)
    previous = ctrl_c.install()
    try:
        assert signal.getsignal(signal.SIGINT) == ctrl_c._handle
        ctrl_c.on_train_batch_end()  # nothing requested: no-op
        ctrl_c.requested = True
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.on_train_batch_end()
    finally:
        ctrl_c.restore(previous)
    assert signal.getsignal(signal.SIGINT) == before
