"""Another commit's code, run on this machine: what ``kanlab reproduce --verify --against`` uses.

A table's rows reproduce bit for bit only on the CPU instruction set they were made on (AVX2 and
AVX512 kernels sum in other orders). On another machine ``--verify`` cannot compare the current
code with the rows; it can compare it with a code already tied to them, run here: if the
current code and that reference code give the same bits on this machine, the change between
them computes nothing differently, and the reference's tie carries over.

:func:`checkout` makes a temporary detached git worktree of the reference commit (removed on
exit); :meth:`Reference.run` trains one planned job there, in a child process that imports
kanlab from the worktree (``kanlab train`` with the worktree first on ``sys.path``, the job's
thread count in ``OMP_NUM_THREADS``, the current directory and environment kept), and returns
the row it recorded, checked to come from the reference's clean code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanlab._sigint import terminated_raises
from kanlab.errors import InputError, SetupError
from kanlab.provenance import PACKAGE_DIR, git

if TYPE_CHECKING:
    from kanlab.results.reproduce import Job

__all__ = ["Reference", "checkout"]

# ``kanlab ARGS`` with the worktree first on sys.path (before the current directory, which
# ``python -m`` would put first, and the editable install's finder)
_CHILD = ("import sys; sys.path.insert(0, sys.argv.pop(1)); from kanlab.cli import main; "
          "sys.exit(main())")


def _git(cwd: Path, *args: str) -> str:
    return git(cwd, *args, timeout=300)  # a worktree of a large checkout takes a while


@dataclass(frozen=True)
class Reference:
    """A checkout of ``git_sha`` at ``root`` (its ``kanlab/`` tree: ``code_sha``) whose code
    runs in child processes; ``top`` is the repository the current code runs from."""

    git_sha: str
    code_sha: str
    root: Path
    top: Path

    def experiment(self, path: Path) -> Path:
        """``path`` as the reference commit has it: a file inside the current repository maps
        to the same place in the worktree; one outside is used as it is."""
        try:
            return self.root / path.resolve().relative_to(self.top)
        except ValueError:
            return path

    def run(self, job: Job, threads: int) -> dict[str, Any]:
        """Train ``job`` at the reference code with ``threads`` torch threads; its row.

        Raises:
            SetupError: the child failed (the tail of its output is quoted), or its row does
                not come from the reference's clean code.
        """
        with tempfile.TemporaryDirectory() as tmp:
            sets = [a for o in (*job.overrides, f"seed={job.seed}") for a in ("--set", o)]
            argv = [sys.executable, "-c", _CHILD, str(self.root), "train",
                    str(self.experiment(job.experiment)), *sets, "--results-dir", tmp,
                    "--no-progress-bar"]
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            try:
                out, err = child.communicate()
            except BaseException:  # Ctrl-C or SIGTERM (checkout's): no orphan keeps training
                child.kill()
                child.wait()
                raise
            rows = [json.loads(line) for f in sorted(Path(tmp).glob("*/runs.jsonl"))
                    for line in f.read_text().splitlines() if line.strip()]
        if child.returncode or len(rows) != 1:
            tail = " | ".join((err or out).strip().splitlines()[-3:])
            raise SetupError(f"{job.name} seed={job.seed} failed at the reference code "
                             f"{self.git_sha[:7]} (exit {child.returncode}): {tail}")
        row: dict[str, Any] = rows[0]
        if row.get("code_sha") != self.code_sha or row.get("git_dirty"):
            raise SetupError(
                f"{job.name} seed={job.seed} ran at code {str(row.get('code_sha'))[:7]}, not the "
                f"reference's clean code {self.code_sha[:7]}: kanlab was not imported from the "
                f"worktree {self.root}.")
        return row


@contextmanager
def checkout(ref: str) -> Iterator[Reference]:
    """A temporary detached worktree of commit ``ref`` of kanlab's repository, removed on exit
    (a SIGTERM inside the block raises ``KeyboardInterrupt``, so it is removed then too).

    Raises:
        InputError: ``ref`` names no commit of the repository, or one without ``kanlab/``.
        SetupError: kanlab is not in a git checkout, or the worktree cannot be made.
    """
    try:
        top = Path(_git(PACKAGE_DIR, "rev-parse", "--show-toplevel")).resolve()
    except (OSError, subprocess.SubprocessError) as err:
        raise SetupError(f"`--against` needs kanlab in a git checkout ({err}).") from None
    rel = PACKAGE_DIR.resolve().relative_to(top).as_posix()
    try:
        sha = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        code = _git(top, "rev-parse", f"{sha}:{rel}")
    except subprocess.SubprocessError:
        raise InputError(f"`--against` must name a commit of {top} that holds {rel}/, but got "
                         f"--against={ref!r}.") from None
    with tempfile.TemporaryDirectory(prefix="kanlab-against-") as tmp:
        root = Path(tmp) / "worktree"
        try:
            _git(top, "worktree", "add", "--detach", "--quiet", str(root), sha)
        except subprocess.SubprocessError as err:
            stderr = getattr(err, "stderr", "") or ""
            raise SetupError(f"cannot check out {sha[:7]} into a worktree: "
                             f"{stderr.strip()}") from None
        try:
            with terminated_raises():
                yield Reference(git_sha=sha, code_sha=code, root=root, top=top)
        finally:
            subprocess.run(["git", "-C", str(top), "worktree", "remove", "--force", str(root)],
                           capture_output=True, check=False)
