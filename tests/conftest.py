"""Shared fixtures: every test writes into a temporary results dir, never the committed one."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point ``$KANLAB_RESULTS`` at a fresh temp dir for each test."""
    path = tmp_path_factory.mktemp("results")
    old = os.environ.get("KANLAB_RESULTS")
    os.environ["KANLAB_RESULTS"] = str(path)
    yield path
    if old is None:
        os.environ.pop("KANLAB_RESULTS", None)
    else:
        os.environ["KANLAB_RESULTS"] = old


@pytest.fixture
def results_dir(_isolated_results: Path) -> Path:
    """The temporary results dir of this test."""
    return _isolated_results


@pytest.fixture(scope="session")
def fmnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the real Fashion-MNIST files (for ``fashion_mnist`` and
    ``tiny_fashion_mnist``), prepared once per session; tests that need it are skipped, with
    the install command, where the data is missing and cannot be downloaded."""
    from kanlab.data._base import DataUnavailableError
    from kanlab.registry import DATAMODULES

    path = tmp_path_factory.mktemp("fmnist")
    dm = DATAMODULES.build({"name": "fashion_mnist", "data_dir": str(path)})
    try:
        dm.prepare_data()
    except DataUnavailableError:
        pytest.skip("Fashion-MNIST is not available offline here "
                    "(apt-get install dataset-fashion-mnist)")
    return path


@pytest.fixture
def data_dir(fmnist_dir: Path) -> str:
    """``data.data_dir`` for a config that trains on (tiny) Fashion-MNIST."""
    return str(fmnist_dir)


@pytest.fixture
def device() -> torch.device:
    """Device under test: ``$KANLAB_TEST_DEVICE`` (default cpu)."""
    return torch.device(os.environ.get("KANLAB_TEST_DEVICE", "cpu"))


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@dataclass(frozen=True)
class Process:
    """A live process as /proc shows it (tests that check what a command leaves running)."""

    pid: int
    ppid: int
    pgid: int
    cmdline: str


def _live_processes() -> list[Process]:
    """Every process that still runs (zombies waiting for a reaper do not count)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # gone meanwhile
            continue
        if fields[0] != "Z":
            found.append(Process(int(stat.parent.name), int(fields[1]), int(fields[2]),
                                 cmdline.decode(errors="replace").strip()))
    return found


@pytest.fixture
def live_processes() -> Callable[[], list[Process]]:
    """A function listing the live processes (Linux /proc; skipped elsewhere)."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("reads /proc (Linux)")
    return _live_processes
