"""Signals during a blocking select(): a handler that raises propagates promptly; one that
returns lets select() retry with the remaining time (PEP 475); Ctrl-C interrupts select(None).

These tests use SIGALRM themselves, so their own timeouts use pytest-timeout's thread method.
"""

import os
import signal
import threading
import time

import pytest
from _support import EVENT_READ

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer"),
]


class Interrupt(Exception):
    pass


@pytest.fixture
def alarm_handler():
    """Install a SIGALRM handler for the test; restore and disarm afterwards."""
    old = signal.getsignal(signal.SIGALRM)

    def install(handler):
        signal.signal(signal.SIGALRM, handler)

    yield install
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.timeout(20, method="thread")
@pytest.mark.parametrize("registered", [True, False], ids=["one_fd", "no_fd"])
def test_raising_handler_propagates(sel, socketpair, alarm_handler, registered):
    rd, _wr = socketpair()
    if registered:
        sel.register(rd, EVENT_READ)
    fired = []

    def handler(signum, frame):
        fired.append(time.monotonic())
        raise Interrupt

    alarm_handler(handler)
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    with pytest.raises(Interrupt):
        sel.select(30)
    t1 = time.monotonic()
    assert len(fired) == 1
    assert t1 - t0 >= 0.3 - 0.01  # the alarm really arrived during select()
    assert t1 - fired[0] < 1.0, "select() did not return within 1 s of the signal"
    # the selector still works
    assert sel.select(0) == []


@pytest.mark.timeout(20, method="thread")
@pytest.mark.parametrize("registered", [True, False], ids=["one_fd", "no_fd"])
def test_returning_handler_retries_with_remaining_time(sel, socketpair, alarm_handler,
                                                       registered):
    rd, _wr = socketpair()
    if registered:
        sel.register(rd, EVENT_READ)
    fired = []
    alarm_handler(lambda signum, frame: fired.append(time.monotonic()))
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    result = sel.select(1.5)
    elapsed = time.monotonic() - t0
    assert fired, "the alarm did not fire during select()"
    assert result == []
    assert elapsed >= 1.5, elapsed
    assert elapsed < 1.5 + 3, elapsed  # retried with the remaining time, not from scratch twice


@pytest.mark.timeout(20, method="thread")
def test_many_signals_keep_the_deadline(sel, socketpair, alarm_handler):
    """A signal every 50 ms: select(1) still lasts >= 1 s and not much more."""
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    fired = []
    alarm_handler(lambda signum, frame: fired.append(1))
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    try:
        result = sel.select(1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.monotonic() - t0
    assert result == []
    assert len(fired) >= 5
    assert 1 <= elapsed < 3, elapsed


@pytest.mark.timeout(20, method="thread")
def test_returning_handler_then_ready(sel, socketpair, alarm_handler):
    """After a signal whose handler returns, select() keeps waiting and sees readiness."""
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ)
    alarm_handler(lambda signum, frame: None)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    timer = threading.Timer(0.4, wr.send, (b"x",))
    timer.start()
    try:
        t0 = time.monotonic()
        result = sel.select(10)
        elapsed = time.monotonic() - t0
    finally:
        timer.join()
    assert result == [(key, EVENT_READ)]
    assert 0.3 < elapsed < 5


@pytest.mark.timeout(20, method="thread")
@pytest.mark.parametrize("registered", [True, False], ids=["one_fd", "no_fd"])
def test_sigint_interrupts_select_none(sel, socketpair, registered):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    rd, _wr = socketpair()
    if registered:
        sel.register(rd, EVENT_READ)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    sent = []

    def kill():
        time.sleep(0.3)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    killer = threading.Thread(target=kill)
    got = None
    try:
        killer.start()
        try:
            sel.select(None)
        except KeyboardInterrupt:
            got = time.monotonic()
        # if select() returned without the interrupt, wait for the signal here so that it
        # cannot escape the test
        while got is None and killer.is_alive():
            try:
                killer.join(0.05)
            except KeyboardInterrupt:
                got = -1.0
        if got is None:
            try:
                time.sleep(0.2)
            except KeyboardInterrupt:
                got = -1.0
    finally:
        killer.join()
        signal.signal(signal.SIGINT, old)
    assert got is not None and got > 0, "select(None) returned before the SIGINT"
    assert got - sent[0] < 0.1, f"KeyboardInterrupt {got - sent[0]:.3f} s after SIGINT"
