"""Every public method, in every abnormal state a selector can be in, works or raises a clear
Python error: never a Rust panic (``pyo3_runtime.PanicException``, a ``BaseException``),
never a crash.

States: open (the baseline), closed, in a forked child that has no fd left for its new kernel
objects, after epoll's stale-registration rebuild, and while another thread closes it.
"""

import os
import socket
import threading
import time

import pytest
from _support import (
    EVENT_READ,
    EVENT_WRITE,
    IS_STDLIB,
    Child,
    kind,
    needs_fork,
    needs_selector,
)

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="rselectors' own states (fork, rebuild, wakeup)"),
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]

#: The errors a selector raises on purpose (the stdlib's types); anything else is a bug.
CLEAR = (KeyError, ValueError, RuntimeError, OSError, TypeError)


def calls(sel, a, b):
    """(name, call) for every public method and map operation, on registered socket ``a``
    and unregistered socket ``b``."""
    m = sel.get_map
    out = [
        ("register", lambda: sel.register(b, EVENT_READ, "b")),
        ("modify events", lambda: sel.modify(a, EVENT_READ | EVENT_WRITE, "a2")),
        ("modify data", lambda: sel.modify(a, EVENT_READ, "a3")),
        ("select(0)", lambda: sel.select(0)),
        ("select(0.01)", lambda: sel.select(0.01)),
        ("get_key", lambda: sel.get_key(a)),
        ("get_map", lambda: m()),
        ("len(map)", lambda: len(m()) if m() is not None else None),
        ("map[a]", lambda: m()[a] if m() is not None else None),
        ("map.get", lambda: m().get(a) if m() is not None else None),
        ("a in map", lambda: a in m() if m() is not None else None),
        ("iter(map)", lambda: list(m()) if m() is not None else None),
        ("map views", lambda: (list(m().keys()), list(m().values()), list(m().items()))
         if m() is not None else None),
        ("wakeup", lambda: sel.wakeup()),
        ("unregister", lambda: sel.unregister(a)),
        ("unregister b", lambda: sel.unregister(b)),
        ("context manager", lambda: sel.__exit__(None, None, None)),
        ("close", lambda: sel.close()),
    ]
    if hasattr(sel, "fileno"):
        out.insert(0, ("fileno", lambda: sel.fileno()))
    return out


def sweep(sel, a, b, before_each=lambda: None):
    """Runs every call (``before_each()`` first); returns {name: 'ok' | exception type
    name}; fails on anything but a clear error."""
    outcomes = {}
    for name, call in calls(sel, a, b):
        before_each()
        try:
            call()
            outcomes[name] = "ok"
        except CLEAR as exc:
            outcomes[name] = type(exc).__name__
        except BaseException as exc:  # noqa: BLE001 - the point of the test
            raise AssertionError(f"{name}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
    return outcomes


def test_open_and_closed(selector_class, socketpair):
    a, _ = socketpair()
    b, _ = socketpair()
    sel = selector_class()
    sel.register(a, EVENT_READ, "a")
    opened = sweep(sel, a, b)
    assert opened["register"] == opened["select(0)"] == opened["wakeup"] == "ok", opened
    sel = selector_class()
    sel.register(a, EVENT_READ, "a")
    sel.close()
    closed = sweep(sel, a, b)
    assert closed["close"] == closed["wakeup"] == "ok", closed
    assert closed["get_key"] == "RuntimeError", closed


@needs_fork
def test_forked_child_without_fds(selector_class, socketpair):
    a, _ = socketpair()
    b, _ = socketpair()
    sel = selector_class()
    sel.register(a, EVENT_READ, "a")

    def child():
        held = []

        def fill_fd_table():  # again before each call: a failed call may have freed one
            try:
                while True:
                    held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                pass

        try:
            return sweep(sel, a, b, fill_fd_table)
        finally:
            for fd in held:
                os.close(fd)

    outcomes = Child(child).result()
    print(f"\n[abnormal] forked child without fds ({kind(selector_class)}): {outcomes}")
    # The child's own native selector needs a kernel object where the backend has one;
    # poll and select need no fd until a wait blocks (their own fds are made at first need).
    expected = "OSError" if hasattr(sel, "fileno") else "ok"
    for name in ("select(0)", "modify events", "wakeup"):
        assert outcomes[name] == expected, (name, outcomes)
    sel.close()


@needs_selector("EpollSelector")
def test_after_the_stale_registration_rebuild(socketpair):
    import rselectors

    sel = rselectors.EpollSelector()
    try:
        s, peer = socketpair()
        a, _ = socketpair()
        b, _ = socketpair()
        sel.register(s, EVENT_READ, "s")
        dup = os.dup(s.fileno())
        peer.send(b"x")
        s.close()
        sel.unregister(s)  # its file stays in the epoll set through `dup`
        sel.register(a, EVENT_READ, "a")
        for _ in range(3):
            assert sel.select(0) == []  # stale: never reported, then rebuilt away
        outcomes = sweep(sel, a, b)
        assert outcomes["register"] == outcomes["select(0)"] == "ok", outcomes
        os.close(dup)
    finally:
        sel.close()


def test_while_another_thread_closes(selector_class):
    """A thread runs every method in a loop while the main thread closes the selector,
    many times over; every outcome is a result or a clear error."""
    for _ in range(30):
        a, a_peer = socket.socketpair()
        b, b_peer = socket.socketpair()
        sel = selector_class()
        sel.register(a, EVENT_READ, "a")
        failures = []
        stop = threading.Event()

        def hammer(sel=sel, a=a, b=b, failures=failures, stop=stop):
            while not stop.is_set():
                try:
                    for name, call in calls(sel, a, b)[:-2]:  # not close / the context manager
                        try:
                            call()
                        except CLEAR:
                            pass
                        except BaseException as exc:  # noqa: BLE001
                            failures.append(f"{name}: {type(exc).__name__}: {exc}")
                            return
                except BaseException as exc:  # noqa: BLE001
                    failures.append(repr(exc))
                    return

        t = threading.Thread(target=hammer)
        t.start()
        time.sleep(0.002)
        sel.close()
        time.sleep(0.002)
        stop.set()
        t.join(10)
        assert not t.is_alive()
        assert failures == []
        for x in (a, a_peer, b, b_peer):
            x.close()
