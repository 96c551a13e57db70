"""``wakeup()`` and microsecond timeouts: rselectors extensions to the stdlib contract.

``wakeup()`` makes a blocked ``select()`` -- or, if none is blocked, the next one -- return
promptly with whatever is ready (possibly nothing); calls made before a ``select()``
consumes one are coalesced into a single wake-up; it never shows in ``get_map()`` or in
results, and does nothing once the selector is closed. Timeouts have microsecond resolution
but a wait is never shorter than asked (the only timing property asserted here: speed is
measured by the benchmarks, not by tests).
"""

import os
import signal
import threading
import time

import pytest
from _support import EVENT_READ, EVENT_WRITE, IS_STDLIB

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="wakeup() is an rselectors extension"),
    pytest.mark.timeout(60),
]

#: Generous bound for "promptly": only a broken wake-up takes this long.
PROMPT = 5.0


def test_wakeup_before_select_makes_the_next_select_return(sel, socketpair):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    sel.wakeup()
    t0 = time.monotonic()
    assert sel.select(30) == []
    assert time.monotonic() - t0 < PROMPT
    # Consumed: the next select waits its whole timeout again.
    t0 = time.monotonic()
    assert sel.select(0.05) == []
    assert time.monotonic() - t0 >= 0.05


def test_wakeup_with_nothing_registered(sel):
    sel.wakeup()
    t0 = time.monotonic()
    assert sel.select(None) == []
    assert time.monotonic() - t0 < PROMPT


def test_wakeup_returns_what_is_ready(sel, socketpair):
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ)
    wr.send(b"x")
    sel.wakeup()
    assert sel.select(30) == [(key, EVENT_READ)]


def test_wakeup_from_another_thread_unblocks_select_none(sel, socketpair):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    timer = threading.Timer(0.05, sel.wakeup)
    t0 = time.monotonic()
    timer.start()
    try:
        assert sel.select(None) == []
    finally:
        timer.join()
    assert 0.04 <= time.monotonic() - t0 < PROMPT


def test_many_concurrent_wakeups_coalesce(sel):
    barrier = threading.Barrier(8)

    def hammer():
        barrier.wait()
        for _ in range(1000):
            sel.wakeup()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t0 = time.monotonic()
    assert sel.select(30) == []
    assert time.monotonic() - t0 < PROMPT
    # 8,000 calls made one wake-up: the next select is not woken by leftovers.
    t0 = time.monotonic()
    assert sel.select(0.05) == []
    assert time.monotonic() - t0 >= 0.05


def test_wakeups_racing_with_selects_never_get_lost(sel):
    """A waker thread and a selecting thread race for a while; every select returns, and a
    wake-up made after the last select started is never lost."""
    stop = threading.Event()
    woken = []

    def selector_loop():
        while not stop.is_set():
            sel.select(PROMPT)
            woken.append(time.monotonic())

    t = threading.Thread(target=selector_loop)
    t.start()
    try:
        for _ in range(200):
            sel.wakeup()
            time.sleep(0.0005)
    finally:
        stop.set()
        sel.wakeup()  # after stop: must wake the last select
        t.join(PROMPT * 2)
    assert not t.is_alive()
    assert woken


def test_wakeup_is_not_a_registration(sel, socketpair):
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_WRITE)
    before = dict(sel.get_map())
    sel.wakeup()
    assert sel.select(1) == [(key, EVENT_WRITE)]
    assert dict(sel.get_map()) == before
    assert len(sel.get_map()) == 1


def test_wakeup_after_close_does_nothing(sel):
    sel.close()
    sel.wakeup()  # no error
    sel.wakeup()


def test_wakeup_from_a_signal_handler(sel, socketpair):
    """A Python signal handler that calls wakeup() ends a select(None) (the handler runs
    between the kernel's EINTR and the retry, and the retry sees the pending wake-up)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread")
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    previous = signal.signal(signal.SIGUSR1, lambda *_: sel.wakeup())
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        t0 = time.monotonic()
        timer.start()
        assert sel.select(None) == []
        assert time.monotonic() - t0 < PROMPT
    finally:
        timer.join()
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.parametrize("timeout", [0.0001, 0.00025, 0.0009, 0.001, 0.0015, 0.0102])
def test_sub_millisecond_timeouts_are_never_early(sel, socketpair, timeout):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    for _ in range(20):
        t0 = time.monotonic()
        assert sel.select(timeout) == []
        assert time.monotonic() - t0 >= timeout
