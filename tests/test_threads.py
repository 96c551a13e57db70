"""Threads: registration changes while another thread is blocked in select(); close() from
another thread wakes select(); changes made during a wait are seen by that same wait."""

import selectors as stdlib
import threading
import time

import pytest
from _support import (
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    blocked_in_wait,
    class_params,
    fixes_stdlib,
)

POLL_SELECT = {"PollSelector": None, "SelectSelector": None}


class Waiter(threading.Thread):
    """Runs sel.select(timeout) once in a daemon thread, recording result or exception."""

    def __init__(self, sel, timeout):
        super().__init__(daemon=True)
        self.sel = sel
        self.timeout = timeout
        self.result = None
        self.error = None
        self.started_at = None
        self.ended_at = None
        self.entered = threading.Event()

    def run(self):
        self.started_at = time.monotonic()
        self.entered.set()
        try:
            self.result = self.sel.select(self.timeout)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        self.ended_at = time.monotonic()


def _wait_in_kernel(waiter, settle):
    """Returns once ``waiter`` is blocked in the kernel's wait (where the platform can
    tell; elsewhere after ``settle`` s) and still in select()."""
    assert waiter.entered.wait(5)
    if blocked_in_wait(waiter.native_id) is None:
        time.sleep(settle)
    assert waiter.is_alive(), (waiter.result, waiter.error)
    assert blocked_in_wait(waiter.native_id) in (True, None), "select() is not waiting"


def _start_waiter(sel, timeout, settle=0.2):
    waiter = Waiter(sel, timeout)
    waiter.start()
    _wait_in_kernel(waiter, settle)
    return waiter


@pytest.mark.timeout(60)
def test_changes_while_another_thread_selects(sel, socketpair):
    """register/modify/unregister/get_key/get_map from the main thread while a thread is
    blocked in select(): no errors, consistent state, the waiter sees the pre-registered fd."""
    target_rd, target_wr = socketpair()
    target_key = sel.register(target_rd, EVENT_READ, "target")
    pairs = [socketpair() for _ in range(20)]
    waiter = _start_waiter(sel, 30)
    registered = {}
    deadline = time.monotonic() + 0.5
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        for i, (a, _b) in enumerate(pairs):
            if a.fileno() in registered:
                if rounds % 2:
                    registered[a.fileno()] = sel.modify(a, EVENT_READ, (i, rounds))
                else:
                    sel.unregister(a)
                    del registered[a.fileno()]
            else:
                registered[a.fileno()] = sel.register(a, EVENT_READ, i)
            assert sel.get_key(target_rd) is target_key
            assert len(sel.get_map()) == len(registered) + 1
    assert waiter.is_alive(), (waiter.result, waiter.error)
    target_wr.send(b"x")
    waiter.join(10)
    assert not waiter.is_alive(), "select() did not return after the fd became readable"
    assert waiter.error is None, waiter.error
    assert (target_key, EVENT_READ) in waiter.result
    for key, _events in waiter.result:
        assert key is target_key or key.fd in registered
    assert {k.fd: k for k in sel.get_map().values()} == {
        target_rd.fileno(): target_key, **registered
    }


@pytest.mark.timeout(60)
def test_concurrent_registrations_from_many_threads(sel, socketpair):
    """Several threads register/unregister their own fds: nothing lost, nothing duplicated."""
    per_thread = [[socketpair() for _ in range(10)] for _ in range(4)]
    errors = []

    def work(pairs):
        try:
            for _ in range(50):
                for a, b in pairs:
                    sel.register(a, EVENT_READ)
                    sel.register(b, EVENT_WRITE)
                for a, b in pairs:
                    sel.modify(a, EVENT_BOTH, "x")
                    sel.unregister(b)
                for a, _b in pairs:
                    assert sel.get_key(a).data == "x"
                    sel.unregister(a)
            for a, _b in pairs:
                sel.register(a, EVENT_READ, "final")
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join(50)
    assert errors == []
    expected = {a.fileno() for pairs in per_thread for a, _ in pairs}
    assert set(sel.get_map()) == expected
    assert len(sel.get_map()) == len(expected)
    assert all(k.data == "final" for k in sel.get_map().values())


@pytest.mark.timeout(60)
def test_unregister_during_select_never_reports_it(sel, socketpair):
    rd, wr = socketpair()
    sel.register(rd, EVENT_READ)
    waiter = _start_waiter(sel, 2)
    sel.unregister(rd)
    wr.send(b"x")
    waiter.join(10)
    assert not waiter.is_alive()
    assert waiter.error is None, waiter.error
    assert waiter.result == []


@pytest.mark.fixes_stdlib("gh-91433: close() from another thread wakes a blocked select()")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("registered", [True, False], ids=["one_fd", "no_fd"])
@pytest.mark.parametrize("timeout", [None, 30], ids=["None", "30s"])
def test_close_wakes_select(selector_class, socketpair, registered, timeout):
    rd, _wr = socketpair()
    sel = selector_class()
    if registered:
        sel.register(rd, EVENT_READ)
    waiter = _start_waiter(sel, timeout)
    t0 = time.monotonic()
    sel.close()
    waiter.join(5)
    assert not waiter.is_alive(), "close() did not wake the blocked select()"
    assert waiter.error is None, waiter.error
    assert waiter.result == []
    assert waiter.ended_at - t0 < 1.0
    assert sel.get_map() is None
    sel.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "name", [n for n in ("EpollSelector", "PollSelector", "SelectSelector") if hasattr(stdlib, n)]
)
def test_stdlib_select_stays_blocked_after_close_from_another_thread(name, socketpair):
    """The stdlib side of gh-91433 (what the test above fixes), on every backend, epoll
    included: a select(None) blocked in another thread does not return when the selector is
    closed. The test then makes the registered socket readable, which releases it."""
    rd, wr = socketpair()
    sel = getattr(stdlib, name)()
    sel.register(rd, EVENT_READ)
    waiter = _start_waiter(sel, None)
    sel.close()
    waiter.join(0.5)
    still_blocked = waiter.is_alive()
    wr.send(b"x")
    waiter.join(10)
    assert still_blocked, (waiter.result, waiter.error)
    assert not waiter.is_alive()


@pytest.mark.fixes_stdlib("gh-91433: close() from another thread wakes every blocked select()")
@pytest.mark.timeout(60)
def test_close_wakes_several_waiters(selector_class, socketpair):
    """Three threads blocked in select(None) (each seen waiting in the kernel): close()
    makes every one of them return [] promptly, none raises."""
    rd, _wr = socketpair()
    sel = selector_class()
    sel.register(rd, EVENT_READ)
    waiters = [Waiter(sel, None) for _ in range(3)]
    for w in waiters:
        w.start()
    for w in waiters:
        _wait_in_kernel(w, settle=0.3)
    t0 = time.monotonic()
    sel.close()
    for w in waiters:
        w.join(5)
    outcomes = [(w.is_alive(), w.error, w.result) for w in waiters]
    assert outcomes == [(False, None, [])] * 3
    assert all(w.ended_at - t0 < 1.0 for w in waiters), [w.ended_at - t0 for w in waiters]


_SAME_WAIT = {
    name: "register/modify from another thread take effect for the select() already waiting "
    "(stdlib poll/select only see them on the next call)"
    for name in POLL_SELECT
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("selector_class", class_params(fixes=_SAME_WAIT))
@pytest.mark.parametrize("anything_registered", [True, False], ids=["busy", "empty"])
def test_register_during_select_is_seen(sel, socketpair, anything_registered):
    idle_rd, _idle_wr = socketpair()
    if anything_registered:
        sel.register(idle_rd, EVENT_READ)
    _rd, wr = socketpair()
    waiter = _start_waiter(sel, 10)
    t0 = time.monotonic()
    key = sel.register(wr, EVENT_WRITE, "late")
    waiter.join(8)
    assert not waiter.is_alive()
    assert waiter.error is None, waiter.error
    assert waiter.result == [(key, EVENT_WRITE)]
    assert waiter.ended_at - t0 < 2.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("selector_class", class_params(fixes=_SAME_WAIT))
def test_modify_during_select_is_seen(sel, socketpair):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)  # writable, but only READ is watched
    waiter = _start_waiter(sel, 10)
    t0 = time.monotonic()
    key = sel.modify(rd, EVENT_WRITE, "now writable")
    waiter.join(8)
    assert not waiter.is_alive()
    assert waiter.error is None, waiter.error
    assert waiter.result == [(key, EVENT_WRITE)]
    assert waiter.ended_at - t0 < 2.0


@pytest.mark.timeout(60)
def test_wait_continues_for_remaining_time_after_change(sel, socketpair):
    """A registration made during the wait that never becomes ready does not end the
    wait early: select() returns [] no earlier than its timeout."""
    rd, _wr = socketpair()
    other, _other_peer = socketpair()
    sel.register(rd, EVENT_READ)
    waiter = _start_waiter(sel, 1.0, settle=0.1)
    sel.register(other, EVENT_READ)  # never ready
    waiter.join(8)
    assert not waiter.is_alive()
    assert waiter.error is None, waiter.error
    assert waiter.result == []
    assert waiter.ended_at - waiter.started_at >= 1.0


@fixes_stdlib("the stdlib's get_map() views look each fd up again, racing with other threads")
@pytest.mark.timeout(60)
def test_map_views_never_see_an_fd_vanish_between_fd_and_key(sel, socketpair):
    """get_map().items() and .values() while another thread unregisters and registers
    again: each item is read in one step, so an iteration completes or raises the dict's
    RuntimeError, never a KeyError for an fd that went away between its number and its key.
    (collections.abc's views, which the stdlib's mapping uses, look each fd up again.)"""
    import sys

    socks = [socketpair()[0] for _ in range(64)]
    for s in socks:
        sel.register(s, EVENT_READ)
    stop = threading.Event()
    errors = []

    def churn():
        try:
            while not stop.is_set():
                for s in socks[::2]:
                    sel.unregister(s)
                for s in socks[::2]:
                    sel.register(s, EVENT_READ)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    completed = changed = 0
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            for view in (sel.get_map().items, sel.get_map().values):
                try:
                    items = list(view())
                except RuntimeError as exc:
                    assert "changed" in str(exc), exc
                    changed += 1
                else:
                    completed += 1
                    assert all(type(i) in (tuple, stdlib.SelectorKey) for i in items)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(old)
    assert not errors, errors
    assert completed + changed > 0
