"""kanlab._sigint: SIGINT/SIGTERM turned into exceptions for a block, handlers restored."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from kanlab import _sigint


class Stop(Exception):
    pass


def test_terminated_raises_the_given_error_and_restores_the_handler() -> None:
    def before(signum: int, frame: object) -> None:
        raise AssertionError("the block's handler should have run")

    previous = signal.signal(signal.SIGTERM, before)
    try:
        with pytest.raises(Stop), _sigint.terminated_raises(Stop):
            os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_terminated_raises_keyboard_interrupt_by_default_and_counts_no_ctrl_c() -> None:
    seen = _sigint.count()
    with pytest.raises(KeyboardInterrupt), _sigint.terminated_raises():
        os.kill(os.getpid(), signal.SIGTERM)
    assert _sigint.count() == seen


def test_a_handler_python_did_not_install_is_restored_as_the_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # signal.signal returns None for a handler a C extension installed
    calls: list[object] = []
    real = signal.signal

    def fake(signum: int, handler: object) -> object:
        calls.append(handler)
        real(signum, handler)  # type: ignore[arg-type]
        return None if len(calls) == 1 else signal.SIG_DFL

    original = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(signal, "signal", fake)
    try:
        with _sigint.terminated_raises(Stop):
            pass
        assert calls[-1] is signal.SIG_DFL
    finally:
        real(signal.SIGTERM, original)


def test_terminated_raises_does_nothing_outside_the_main_thread() -> None:
    handler = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def body() -> None:
        with _sigint.terminated_raises(Stop):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [handler]


def test_interruptible_raises_at_once_inside_deferred() -> None:
    with pytest.raises(KeyboardInterrupt), _sigint.deferred(), _sigint.interruptible():
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("interruptible() should raise at the signal")


def test_deferred_raises_when_the_block_ends() -> None:
    reached = []
    with pytest.raises(KeyboardInterrupt), _sigint.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        reached.append(True)  # the block runs on
    assert reached == [True]


def test_kill_pool_stops_running_and_queued_work_at_once() -> None:
    import multiprocessing
    import time
    from concurrent.futures import CancelledError, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    running = pool.submit(time.sleep, 60)
    queued = pool.submit(time.sleep, 60)
    deadline = time.monotonic() + 60
    while not running.running():  # the worker has taken the first call
        assert not running.done() and time.monotonic() < deadline
        time.sleep(0.01)
    start = time.monotonic()
    _sigint.kill_pool(pool)
    assert time.monotonic() - start < 30
    assert not multiprocessing.active_children()
    for future in (running, queued):  # neither finished its work
        with pytest.raises((BrokenProcessPool, CancelledError)):
            future.result(timeout=5)
