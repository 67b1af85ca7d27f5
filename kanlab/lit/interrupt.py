"""Ctrl-C during a run: a handler that cannot be swallowed, and what is left of the run dir.

:class:`CtrlC` makes Ctrl-C stop training even where Python swallows the
``KeyboardInterrupt``; :func:`interrupted` keeps a resumable run directory (one with
``last.ckpt``) and removes one without a checkpoint (:func:`drop_run_dir`), and says how to
go on.
"""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from kanlab import _sigint as sigint

__all__ = ["CtrlC", "drop_run_dir", "interrupted"]


class CtrlC(pl.Callback):
    """Ctrl-C stops training even when Python swallows the ``KeyboardInterrupt``.

    The default handler raises wherever the main thread is; inside a weakref or ``__del__``
    callback (frequent while tensors are freed) the exception is printed and ignored, and
    the run goes on. This handler also records the request, and the next batch end raises.
    """

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> Any:
        """Set the handler (main thread only); return the previous one for :meth:`restore`."""
        if threading.current_thread() is not threading.main_thread():
            return None
        return signal.signal(signal.SIGINT, self._handle)

    def restore(self, previous: Any) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        sigint.note()  # a search notices it after the trial even if this one is swallowed
        raise KeyboardInterrupt

    def _check(self, *args: Any, **kwargs: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt

    on_train_batch_end = on_validation_batch_end = on_test_batch_end = _check


def drop_run_dir(run_dir: Path) -> None:
    """Remove a fresh run directory, and its ``runs/`` and benchmark folders if now empty."""
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in (run_dir.parent, run_dir.parent.parent):
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def interrupted(run_dir: Path, *, created: bool, trial: bool = False) -> KeyboardInterrupt:
    """Ctrl-C during fit or test: keep a resumable run dir, drop one without a checkpoint.

    A search trial's run directory is always dropped: the study reruns the trial afresh.
    """
    import shutil

    if trial and created:
        drop_run_dir(run_dir)
        return KeyboardInterrupt("interrupted — its partial run directory was removed")
    if (run_dir / "last.ckpt").is_file():
        return KeyboardInterrupt(
            f"interrupted — resume with: kanlab train --resume {shlex.quote(str(run_dir))}"
        )
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
    return KeyboardInterrupt("interrupted — rerun the same command to start again")
