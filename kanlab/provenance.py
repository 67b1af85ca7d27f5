"""Which code produced a result: the commit, the tree hash of ``kanlab/`` and a dirty flag.

Every ``runs.jsonl`` row records three fields from :func:`code_version`:

- ``git_sha``: the commit checked out (``git rev-parse HEAD``);
- ``code_sha``: the git tree hash of the package directory at that commit
  (``git rev-parse HEAD:kanlab``). Two rows with the same ``code_sha`` ran the same kanlab
  code even when the commits differ (later commits that touch only results/, README, tests);
- ``git_dirty``: whether the package directory had uncommitted changes (modified, staged or
  untracked files, ``git status --porcelain -- kanlab``) when the run started; such a run's
  code is not the one ``code_sha`` names.

Outside a git checkout (an installed wheel) all three are ``None``: unknown provenance. The
leaderboard flags configurations whose rows come from more than one ``code_sha``, from dirty
code or from unknown code; ``kanlab leaderboard --strict`` refuses such a table.

:func:`machine` describes the other half of what a result's numbers depend on (torch build,
CPU instruction set, platform); the pinned runs, ``kanlab reproduce --verify`` records and
committed bench output all record it.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["CodeVersion", "code_version", "git", "machine"]

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class CodeVersion:
    """``git_sha``, ``code_sha`` and ``git_dirty`` of a package checkout (``None``: unknown)."""

    git_sha: str | None
    code_sha: str | None
    git_dirty: bool | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def git(cwd: Path, *args: str, timeout: float = 20) -> str:
    """``git -C cwd ARGS``'s stdout, stripped.

    Raises:
        OSError: no git executable.
        subprocess.SubprocessError: git failed (``CalledProcessError``, with its stderr) or
            ran past ``timeout`` seconds.
    """
    out = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                         timeout=timeout, check=True)
    return out.stdout.strip()


def _git(cwd: Path, *args: str) -> str | None:
    """:func:`git`, or None where it fails (no checkout, no git)."""
    try:
        return git(cwd, *args)
    except (OSError, subprocess.SubprocessError):
        return None


def code_version(package_dir: str | Path = PACKAGE_DIR) -> CodeVersion:
    """The code version of ``package_dir`` (default: the imported kanlab package)."""
    pkg = Path(package_dir).resolve()
    top = _git(pkg, "rev-parse", "--show-toplevel")
    if not top:
        return CodeVersion(None, None, None)
    try:
        rel = pkg.relative_to(Path(top).resolve()).as_posix()
    except ValueError:
        return CodeVersion(None, None, None)
    sha = _git(pkg, "rev-parse", "HEAD") or None
    tree = None
    if sha is not None:
        tree = _git(pkg, "rev-parse", f"HEAD:{rel}") or None
    status = _git(Path(top), "status", "--porcelain", "--untracked-files=normal", "--", rel)
    dirty = None if status is None else bool(status)
    return CodeVersion(sha, tree, dirty)


def machine() -> dict[str, Any]:
    """What float rounding depends on besides the code and the thread count.

    ``torch`` (version string), ``cpu_capability`` (the instruction set torch dispatches to,
    e.g. ``AVX512``; ``None`` where torch cannot say), ``platform`` and ``machine``
    (:mod:`platform`'s description and architecture).
    """
    import torch

    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)()
    return {"torch": torch.__version__, "cpu_capability": capability,
            "platform": platform.platform(), "machine": platform.machine()}
