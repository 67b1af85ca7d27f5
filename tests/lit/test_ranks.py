"""What rank 0 shares with the ranks Lightning starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kanlab import settings
from kanlab.config import TrainerConfig
from kanlab.lit.ranks import launched_rank_run_dir, one_device_tester, ranks_share


def test_ranks_share_sets_and_restores_the_run_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.DDP_RUN_DIR, raising=False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with ranks_share(tmp_path):
        assert os.environ[settings.DDP_RUN_DIR] == str(tmp_path)
        assert launched_rank_run_dir() == tmp_path
    assert settings.DDP_RUN_DIR not in os.environ and launched_rank_run_dir() is None


def test_rank_zero_makes_its_own_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.DDP_RUN_DIR, str(tmp_path))
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert launched_rank_run_dir() is None


def test_one_device_tester_tests_on_one_device_without_logger() -> None:
    tester = one_device_tester(TrainerConfig(accelerator="cpu", devices=3))
    assert tester.num_devices == 1 and tester.logger is None
