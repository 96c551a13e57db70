"""``register(fileobj, events, data=None, *, exclusive=False)``: exclusive wake-ups.

Where several selectors wait on the same file (the workers of a pre-fork server on one
listening socket), an exclusive registration makes an event wake one or more of them instead
of all: epoll's ``EPOLLEXCLUSIVE``. The other classes have no such mode and ignore the flag
(every waiter is woken, as without it). Everywhere an exclusive registration waits for
``EVENT_READ`` and ``EVENT_WRITE`` only. The herd itself, with forked workers, is measured by
``benches/exclusive_wakeups.py`` and stressed by ``tests/reliability/test_prefork.py``.
"""

import socket
import threading
import time

import pytest
from _support import (
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    IS_STDLIB,
    TARGET,
    Child,
    blocked_in_wait,
    kind,
    raised,
    tcp_pair,
)

pytestmark = pytest.mark.skipif(IS_STDLIB, reason="rselectors' exclusive registrations")

EPOLLEXCLUSIVE = 1 << 28
EPOLLOUT = 0x004


def epoll_mask(sel, fd):
    """The events mask the kernel holds for ``fd`` in ``sel``'s epoll set (fdinfo), or None."""
    with open(f"/proc/self/fdinfo/{sel.fileno()}") as f:
        for line in f:
            words = line.split()
            if words[:1] == ["tfd:"] and int(words[1]) == fd:
                return int(words[3], 16)
    return None


@pytest.fixture
def listener():
    s = socket.create_server(("127.0.0.1", 0), backlog=64)
    s.setblocking(False)
    yield s
    s.close()


def test_exclusive_is_keyword_only(sel, listener):
    exc = raised(sel.register, listener, EVENT_READ, None, True)
    assert type(exc) is TypeError
    assert len(sel.get_map()) == 0
    key = sel.register(listener, EVENT_READ, "d", exclusive=True)
    # The key is the stdlib's: nothing in it says exclusive.
    assert tuple(key) == (listener, listener.fileno(), EVENT_READ, "d")
    sel.unregister(listener)
    assert sel.register(listener, EVENT_READ, exclusive=False).events == EVENT_READ
    sel.unregister(listener)
    exc = raised(sel.register, listener, EVENT_READ, exclusive=1)
    assert type(exc) is TypeError and len(sel.get_map()) == 0


def test_exclusive_waits_for_read_and_write_only(sel, listener):
    """The same on every class (epoll's kernel refuses EPOLLEXCLUSIVE with other events)."""
    for events in (EVENT_READ | TARGET.EVENT_PRIORITY, EVENT_READ | TARGET.EVENT_HANGUP):
        exc = raised(sel.register, listener, events, exclusive=True)
        assert type(exc) is ValueError
        reason = "an exclusive registration waits for readability and writability only"
        assert exc.args == (f"Invalid events: {events} ({reason})",)
        assert len(sel.get_map()) == 0
    key = sel.register(listener, EVENT_READ, "kept", exclusive=True)
    exc = raised(sel.modify, listener, EVENT_READ | TARGET.EVENT_PRIORITY, "new")
    assert type(exc) is ValueError and exc.args[0].startswith("Invalid events: 17 (an exclusive")
    assert sel.get_key(listener) is key
    # Still registered and waiting: a connection is reported.
    with socket.create_connection(listener.getsockname()):
        ((got, events),) = sel.select(2)
    assert got is key and events == EVENT_READ


def woken_by_one_connection(cls, n, exclusive):
    """How many of ``n`` selectors of ``cls`` (a thread each), all blocked in select() on one
    listening socket, one connection wakes."""
    with socket.create_server(("127.0.0.1", 0)) as lst:
        lst.setblocking(False)
        sels = [cls() for _ in range(n)]
        for s in sels:
            s.register(lst, EVENT_READ, exclusive=exclusive)
        woken = []
        tids = []

        def wait(s):
            tids.append(threading.get_native_id())
            woken.append(bool(s.select(5)))

        threads = [threading.Thread(target=wait, args=(s,)) for s in sels]
        for t in threads:
            t.start()
        while len(tids) < n:
            time.sleep(0.001)
        for tid in tids:
            if blocked_in_wait(tid) is None:
                time.sleep(0.2)  # cannot tell here: give every thread the time to block
                break
            assert blocked_in_wait(tid), "a waiter never blocked"
        with socket.create_connection(lst.getsockname()):
            time.sleep(0.5)  # the woken ones return at once, the others after 5 s
            count = sum(woken)
            for s in sels:
                s.close()  # ends the other selects
            for t in threads:
                t.join()
        return count


def test_one_connection_wakes_one_waiter(selector_class):
    n = 4
    assert woken_by_one_connection(selector_class, n, exclusive=False) == n  # the herd
    woken = woken_by_one_connection(selector_class, n, exclusive=True)
    if kind(selector_class) == "EpollSelector":
        assert woken < n, f"{woken} of {n} woken"
    else:
        assert woken == n  # no such mode here: ignored, as documented


@pytest.fixture
def epoll_sel():
    if not hasattr(TARGET, "EpollSelector"):
        pytest.skip("EPOLLEXCLUSIVE is epoll's (no EpollSelector here)")
    with TARGET.EpollSelector() as s:
        yield s


def test_epoll_holds_the_kernel_flag_through_modify(epoll_sel, listener):
    fd = listener.fileno()
    epoll_sel.register(listener, EVENT_READ, exclusive=True)
    assert epoll_mask(epoll_sel, fd) & EPOLLEXCLUSIVE
    # The kernel cannot modify an exclusive registration (EINVAL): modify re-adds it, and it
    # stays exclusive.
    key = epoll_sel.modify(listener, EVENT_BOTH, "both")
    assert key.events == EVENT_BOTH
    mask = epoll_mask(epoll_sel, fd)
    assert mask & (EPOLLEXCLUSIVE | EPOLLOUT) == EPOLLEXCLUSIVE | EPOLLOUT, hex(mask)
    assert epoll_sel.modify(listener, EVENT_BOTH, "data only").data == "data only"
    assert epoll_mask(epoll_sel, fd) & EPOLLEXCLUSIVE
    epoll_sel.modify(listener, EVENT_READ)
    assert epoll_mask(epoll_sel, fd) & (EPOLLEXCLUSIVE | EPOLLOUT) == EPOLLEXCLUSIVE
    with socket.create_connection(listener.getsockname()):
        assert [ev for _, ev in epoll_sel.select(2)] == [EVENT_READ]
    epoll_sel.unregister(listener)
    assert epoll_mask(epoll_sel, fd) is None
    # A plain registration is not exclusive.
    epoll_sel.register(listener, EVENT_WRITE)
    assert not epoll_mask(epoll_sel, fd) & EPOLLEXCLUSIVE


def test_a_forked_child_keeps_it_exclusive(epoll_sel, listener):
    """The child's selector gets its own epoll object with the same registrations: the
    exclusive one stays exclusive there."""
    fd = listener.fileno()
    a, _b = tcp_pair()
    epoll_sel.register(listener, EVENT_READ, exclusive=True)
    epoll_sel.register(a, EVENT_WRITE)

    def child():
        epoll_sel.select(0)  # the first kernel operation makes the child's epoll object
        masks = (epoll_mask(epoll_sel, fd), epoll_mask(epoll_sel, a.fileno()))
        return masks[0] & EPOLLEXCLUSIVE != 0 and masks[1] & EPOLLEXCLUSIVE == 0

    assert Child(child).result(10) is True
    assert epoll_mask(epoll_sel, fd) & EPOLLEXCLUSIVE
    a.close()
