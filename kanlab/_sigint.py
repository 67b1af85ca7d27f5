"""Ctrl-C (SIGINT) that always stops: where it raises at once and where it waits a moment.

Python's default handler raises ``KeyboardInterrupt`` wherever the main thread happens to
be. That loses the interrupt when it lands where the exception is swallowed (a ``__del__``
or weakref callback) or when the shell started the process with SIGINT ignored (a script's
background job), and it can leave bookkeeping half done when it lands inside a database
write (an Optuna trial left RUNNING, a truncated ``runs.jsonl`` line). kanlab's long
commands therefore:

* :func:`install` kanlab's handler (it raises, and it counts the request), also over an
  inherited "ignore": a Ctrl-C a terminal sends to the process group stops them;
* run bookkeeping inside :func:`deferred` (a SIGINT there is only counted, and raised as
  ``KeyboardInterrupt`` when the block ends) and the interruptible work (training a trial)
  inside :func:`interruptible`;
* compare :func:`count` before and after a unit of work to notice an interrupt that a library
  swallowed.

SIGTERM (``kill``, a job scheduler's stop) ends a Python process at once by default, without
its cleanup; :func:`terminated_raises` turns it into an exception for a block, so the command
stops the way Ctrl-C stops it.

Everything here is a no-op outside the main thread (where Python delivers no signal).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["count", "deferred", "install", "interruptible", "kill_pool", "note",
           "terminated_raises"]

_count = 0  # SIGINTs received since the process started (kanlab's handlers only)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def note() -> None:
    """Count one interrupt (for handlers elsewhere, e.g. the training callback's)."""
    global _count
    _count += 1


def count() -> int:
    """Interrupts seen so far; a change over a unit of work means "stop after it"."""
    return _count


def _record(signum: int, frame: Any) -> None:
    note()


def _raise(signum: int, frame: Any) -> None:
    note()
    raise KeyboardInterrupt


def install() -> None:
    """Make SIGINT raise ``KeyboardInterrupt`` (and count), even if it was inherited ignored."""
    if _main_thread():
        signal.signal(signal.SIGINT, _raise)


@contextmanager
def deferred() -> Iterator[None]:
    """A SIGINT inside the block is counted and raised when the block ends without error."""
    if not _main_thread():
        yield
        return
    before = _count
    previous = signal.signal(signal.SIGINT, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if _count != before and previous is not signal.SIG_IGN:  # (the block ended normally)
        raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """A SIGINT inside the block raises at once (also inside :func:`deferred`)."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def terminated_raises(
    error: Callable[[], BaseException] = KeyboardInterrupt,
) -> Iterator[None]:
    """A SIGTERM inside the block raises ``error()`` (not counted as a Ctrl-C); the previous
    SIGTERM handler is restored when the block ends."""
    if not _main_thread():
        yield
        return

    def terminated(signum: int, frame: Any) -> None:
        raise error()

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a process pool's running work now and shut it down (queued work is cancelled).

    Leaving a ``with ProcessPoolExecutor()`` block waits for the running calls, and a worker
    that trains (Lightning) only logs a SIGTERM and trains on, so a stopped command
    (SIGTERM, Ctrl-C, a failed run) kills its workers with SIGKILL first. Callers record a
    run in one write when it ends, so a killed run has left nothing half-done.
    """
    import multiprocessing

    for child in multiprocessing.active_children():
        child.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def forget_unhandled() -> None:
    """Let a caught Ctrl-C exit with status 130 rather than be killed by SIGINT at exit.

    CPython sets an "unhandled KeyboardInterrupt" flag when the exception leaves code run
    through ``PyRun_String`` (which some extension modules use while they are imported) and,
    at exit, kills the process with SIGINT if the flag is set, even though kanlab caught
    the exception and returned 130. Running one trivial statement that way clears it.
    """
    import ctypes

    try:
        ctypes.pythonapi.PyRun_SimpleString(b"pass")
    except (AttributeError, OSError):  # not CPython
        pass
