"""The built wheel: it carries the shipped specs, builds without warnings, and works installed.

The installed-package test installs the wheel into a fresh virtualenv outside the repository
(dependencies are reused from this interpreter's site-packages through a ``.pth`` file: no
network) and runs the CLI from a temporary directory, as a user who never cloned the repo.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "kanlab",
           "experiments", "search")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Build the wheel from a copy of the sources (the build leaves nothing in the repo)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",
                                                             "PYTHONDONTWRITEBYTECODE")}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "--no-index", "-v", "-w", str(out)],
        capture_output=True, text=True, env=env, cwd=out,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (built,) = out.glob("kanlab-*.whl")
    return built, proc.stdout + proc.stderr


def test_wheel_carries_every_spec_and_builds_without_warnings(wheel: tuple[Path, str]) -> None:
    path, log = wheel
    names = set(zipfile.ZipFile(path).namelist())
    for folder in ("experiments", "search"):
        for spec in (REPO / folder).rglob("*.yaml"):
            assert f"kanlab/_specs/{spec.relative_to(REPO).as_posix()}" in names, spec
    warnings = [line for line in log.splitlines()
                if "warning" in line.lower() and "pip is looking" not in line.lower()]
    assert warnings == []
    meta = zipfile.ZipFile(path).read("kanlab-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta
    assert "Provides-Extra: tensorboard" in meta


def test_wheel_is_typed(wheel: tuple[Path, str]) -> None:
    assert "kanlab/py.typed" in zipfile.ZipFile(wheel[0]).namelist()


def test_a_second_build_ships_no_deleted_spec(tmp_path: Path) -> None:
    """pip builds in the source tree; the second wheel must not carry the first's leftovers."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",
                                                             "PYTHONDONTWRITEBYTECODE")}

    def build(out: Path) -> set[str]:
        subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                        "--no-build-isolation", "--no-index", "-q", "-w", str(out)],
                       check=True, capture_output=True, env=env, cwd=tmp_path)
        (built,) = out.glob("kanlab-*.whl")
        return set(zipfile.ZipFile(built).namelist())

    first = build(tmp_path / "one")
    assert "kanlab/_specs/search/demo.yaml" in first
    assert (src / "build").is_dir()  # the stale tree the second build meets
    (src / "search" / "demo.yaml").unlink()
    second = build(tmp_path / "two")
    assert "kanlab/_specs/search/demo.yaml" not in second
    assert "kanlab/_specs/search/kan_grid.yaml" in second


@pytest.mark.slow
def test_installed_wheel_runs_from_any_directory(
    wheel: tuple[Path, str], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies, from this interpreter's site-packages (after the venv's own)
    (site / "_kanlab_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KANLAB_RESULTS")}
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--force-reinstall", "-q", str(wheel[0])],
        check=True, env=env, capture_output=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()

    def kanlab(*args: str) -> str:
        proc = subprocess.run([str(venv / "bin" / "kanlab"), *args], capture_output=True,
                              text=True, env=env, cwd=work, timeout=600)
        assert proc.returncode == 0, f"kanlab {' '.join(args)}: {proc.stderr[-2000:]}"
        return proc.stdout

    where = subprocess.run([str(python), "-c", "import kanlab; print(kanlab.__file__)"],
                           capture_output=True, text=True, env=env, cwd=work, check=True)
    assert where.stdout.strip().startswith(str(site))  # the wheel, not the repo
    assert kanlab("--version").strip() == "kanlab 0.1.0"
    studies = kanlab("list", "studies")
    assert "kan_grid" in studies and "demo" in studies
    assert "fashion_mnist/af_kan" in kanlab("list", "experiments")
    kanlab("search", "demo", "--n-trials", "1", "--set", "data.subset=600",
           "trainer.max_epochs=1")
    results = work / "results" / "local"  # the default for user runs
    rows = [json.loads(line) for line in
            (results / "fashion_mnist" / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["trial"]["study"] == "demo_fashion_mnist"
    assert (results / "studies" / "demo_fashion_mnist.db").is_file()
    board = kanlab("leaderboard")
    assert "fashion_mnist" in board or (results / "fashion_mnist" / "leaderboard.md").is_file()
