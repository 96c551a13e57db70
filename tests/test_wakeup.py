"""``wakeup()`` and microsecond timeouts: rselectors extensions to the stdlib contract.

``wakeup()`` makes a blocked ``select()`` -- or, if none is blocked, the next one -- return
promptly with whatever is ready (possibly nothing); calls made before a ``select()``
consumes one are coalesced into a single wake-up; it never shows in ``get_map()`` or in
results, and does nothing once the selector is closed. Timeouts have microsecond resolution
and a wait is never shorter than asked: asserted here as "never early" for every wait and
"far below a millisecond late" for the median of many short waits (how late exactly is
measured by the benchmarks).
"""

import os
import random
import signal
import statistics
import sys
import threading
import time

import pytest
from _support import (
    EVENT_READ,
    EVENT_WRITE,
    IS_STDLIB,
    needs_posix_signals,
    open_fds,
)

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
    """Every wake-up from another thread ends the blocked select (30 s timeout) promptly:
    200 rounds, each wake-up at a random moment around the waiter entering select(), and
    every round's latency is asserted (a lost wake-up would wait out the 30 s)."""
    rng = random.Random(1234)
    entering = threading.Event()
    returned = threading.Event()
    stop = threading.Event()

    def waiter():
        while not stop.is_set():
            entering.set()
            sel.select(30)
            returned.set()

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    try:
        for round_ in range(200):
            assert entering.wait(PROMPT), f"round {round_}: the waiter never came back"
            entering.clear()
            time.sleep(rng.choice([0, 0, rng.uniform(0, 0.002)]))
            woke_at = time.monotonic()
            sel.wakeup()
            assert returned.wait(PROMPT), f"round {round_}: wake-up lost"
            returned.clear()
            assert time.monotonic() - woke_at < PROMPT
    finally:
        stop.set()
        sel.wakeup()
        t.join(PROMPT * 2)
    assert not t.is_alive()


def notifier_fd(selector_class):
    """A new selector and its wake-up eventfd (the eventfd among the fds it opened once a
    wakeup() reached a select() blocked in this thread: the notifier is made at its first
    need), or skip where the notifier is not an eventfd."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the notifier is an eventfd on Linux only")
    before = open_fds()
    sel = selector_class()
    timer = threading.Timer(0.05, sel.wakeup)
    timer.start()
    assert sel.select(10) == []
    timer.join()
    for name in open_fds() - before:
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "anon_inode:[eventfd]":
                return sel, int(name)
        except FileNotFoundError:
            continue
    sel.close()
    pytest.fail("no eventfd among the selector's fds")


def test_wakeups_between_two_selects_write_the_notifier_once(selector_class):
    """Coalescing: however many wakeup() calls (from however many threads) come between two
    selects, the notifier is written at most once. An eventfd adds each write to its
    counter, and reading it returns the count: it must be 1."""
    sel, fd = notifier_fd(selector_class)
    try:
        sel.select(0)
        barrier = threading.Barrier(4)

        def hammer():
            barrier.wait()
            for _ in range(500):
                sel.wakeup()

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writes = int.from_bytes(os.read(fd, 8), sys.byteorder)
        assert writes == 1, f"2,000 wakeup() calls wrote the notifier {writes} times"
    finally:
        sel.close()


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


@needs_posix_signals
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


def median_overshoot(sel, timeout, n):
    """The median of how much later than ``timeout`` each of ``n`` idle selects returned."""
    late = []
    for _ in range(n):
        t0 = time.perf_counter()
        assert sel.select(timeout) == []
        late.append(time.perf_counter() - t0 - timeout)
    return statistics.median(late)


#: Far below the whole millisecond the stdlib rounds up to, far above scheduling noise.
MICROSECONDS = 0.0005


def _precise(sel):
    """Whether ``sel``'s backend waits with sub-millisecond precision here (``_features()``)."""
    from rselectors import _rselectors

    backend = {"EpollSelector": "epoll", "PollSelector": "poll", "SelectSelector": "select",
               "KqueueSelector": "kqueue", "DevpollSelector": "devpoll"}[type(sel).__name__]
    return _rselectors._features()["precise"][backend]


def test_sub_millisecond_timeouts_are_not_rounded_up_to_a_millisecond(sel, socketpair):
    if not _precise(sel):
        pytest.skip("this backend's waits end on the system timer's tick (Windows' winsock: "
                    "README \"Windows\"); that they never end early is tested below")
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    late = median_overshoot(sel, 0.0002, 200)
    print(f"\n[timeouts] {type(sel).__name__} select(0.0002) median overshoot {late * 1e6:.0f} µs")
    assert late < MICROSECONDS


def test_fractional_millisecond_timeouts_keep_their_fraction_where_the_kernel_allows(
        sel, socketpair):
    """select(0.0015): epoll_pwait2 / ppoll / pselect keep the half millisecond; where the
    kernel refuses epoll_pwait2 (old kernel, seccomp filter), _features() says so, and the
    whole-millisecond rounding (2 ms) is what is checked. (Windows: winsock's waits end on a
    timer tick whose length the system chooses; that they never end early is tested below.)"""
    if not _precise(sel) and sys.platform == "win32":
        pytest.skip("winsock's waits end on the system timer's tick (README \"Windows\"); "
                    "that they never end early is tested below")
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    late = median_overshoot(sel, 0.0015, 50)
    if _precise(sel):
        assert late < MICROSECONDS
    else:
        print(f"\n[timeouts] {type(sel).__name__}: no sub-ms timeouts here, checking ms rounding")
        assert late >= 0.0004


@pytest.mark.parametrize("timeout", [0.0001, 0.00025, 0.0009, 0.001, 0.0015, 0.0102])
def test_sub_millisecond_timeouts_are_never_early(sel, socketpair, timeout):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    for _ in range(20):
        t0 = time.monotonic()
        assert sel.select(timeout) == []
        assert time.monotonic() - t0 >= timeout
