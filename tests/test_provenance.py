"""Code provenance of a checkout: commit, tree hash of the package directory, dirty flag."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

from kanlab.provenance import code_version, machine


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_code_sha_is_the_package_tree_and_dirty_tracks_only_the_package(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    pkg = repo / "kanlab"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (repo / "README.md").write_text("readme\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    first = code_version(pkg)
    assert first.git_sha == _git(repo, "rev-parse", "HEAD")
    assert first.code_sha == _git(repo, "rev-parse", "HEAD:kanlab")
    assert first.git_dirty is False

    # a commit outside kanlab/ changes the commit but not the code version
    (repo / "README.md").write_text("more\n")
    assert code_version(pkg).git_dirty is False  # changes outside kanlab/ are not "dirty"
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "docs")
    second = code_version(pkg)
    assert second.git_sha != first.git_sha and second.code_sha == first.code_sha

    # modified or untracked files under kanlab/ make it dirty
    (pkg / "a.py").write_text("x = 2\n")
    assert code_version(pkg).git_dirty is True
    _git(repo, "checkout", "-q", "--", "kanlab/a.py")
    (pkg / "new.py").write_text("y = 1\n")
    assert code_version(pkg).git_dirty is True


def test_outside_a_checkout_everything_is_unknown(tmp_path: Path) -> None:
    version = code_version(tmp_path)
    assert version.to_dict() == {"git_sha": None, "code_sha": None, "git_dirty": None}


def test_machine_names_what_float_rounding_depends_on_and_pinned_runs_share_it() -> None:
    from kanlab.testing.pinned import THREADS
    from kanlab.testing.pinned import machine as pinned_machine

    here = machine()
    assert here == {"torch": torch.__version__,
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "platform": platform.platform(), "machine": platform.machine()}
    assert pinned_machine() == {**here, "threads": THREADS}
