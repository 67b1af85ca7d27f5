"""Imported by the search workers' forkserver (``PRELOAD``): its children ignore SIGINT at first.

A worker forked from the forkserver restores the handlers the forkserver had after its
preload imports. With SIGINT ignored there, a Ctrl-C that reaches a worker in the
milliseconds before :func:`kanlab.search.study._worker_process` installs kanlab's handler is
ignored (the parent sends it a SIGINT of its own two seconds later) instead of printing a
traceback from multiprocessing's bootstrap. Outside the forkserver's preload this import does
nothing.
"""

from __future__ import annotations

import signal
import sys


def _in_forkserver_preload() -> bool:
    from multiprocessing import forkserver

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


if _in_forkserver_preload():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
