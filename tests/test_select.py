"""select(): result shape and translation, masking with key.events, skipped fds, timeouts
(never early; edge values raise exactly what the stdlib raises, per backend)."""

import os
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from _support import (
    EMPTY_SETS,
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    class_params,
    fill,
    key_tuple,
    needs_fd_numbers,
    needs_pipes,
    outcome,
    windows_fixes_stdlib,
)


def _by_fd(result):
    return sorted(result, key=lambda item: item[0].fd)


def _same_result(ours, theirs):
    """Same (key, events) pairs, keys compared as tuples (identity for objects)."""
    return [(key_tuple(k), e) for k, e in _by_fd(ours)] == [
        (key_tuple(k), e) for k, e in _by_fd(theirs)
    ]


# --- result shape ----------------------------------------------------------------------------

@windows_fixes_stdlib(EMPTY_SETS)
def test_empty_select(sel):
    assert sel.select(0) == []
    assert sel.select(-1) == []
    assert type(sel.select(0)) is list


def test_select_writable(sel, socketpair):
    rd, wr = socketpair()
    sel.register(rd, EVENT_READ)
    wr_key = sel.register(wr, EVENT_WRITE)
    result = sel.select()
    assert result == [(wr_key, EVENT_WRITE)]
    assert type(result) is list
    (key, events), = result
    assert key is wr_key and type(events) is int
    assert type(result[0]) is tuple


@pytest.mark.parametrize(
    "selector_class",
    class_params(fixes={"KqueueSelector": "a read and a write kevent for one fd are merged "
                                          "into one (key, 3) entry (stdlib: two entries)"}),
)
def test_select_read_write_single_entry(sel, socketpair):
    """gh-110038: one fd readable and writable comes back once, with both bits."""
    rd, wr = socketpair()
    wr.send(b"foo")
    key = sel.register(rd, EVENT_BOTH)
    assert sel.select() == [(key, EVENT_BOTH)]


def test_select_keys_are_registered_keys(sel, socketpair):
    pairs = [socketpair() for _ in range(10)]
    keys = {}
    for i, (a, b) in enumerate(pairs):
        keys[a.fileno()] = sel.register(a, EVENT_BOTH, i)
        b.send(b"x" * (i + 1))
    result = sel.select(0)
    assert len(result) == 10
    for key, events in result:
        assert key is keys[key.fd]
        assert events == EVENT_BOTH
    assert len({k.fd for k, _ in result}) == 10


def test_select_many_ready(sel, socketpair):
    """Every ready fd is reported by one select (epoll maxevents = number registered)."""
    socks = [s for _ in range(60) for s in socketpair()]
    for s in socks:
        sel.register(s, EVENT_WRITE)
    result = sel.select(0)
    assert len(result) == len(socks)
    assert {k.fd for k, _ in result} == {s.fileno() for s in socks}


def test_select_mask_with_key_events(sel, std_sel, socketpair):
    """Kernel bits are translated then masked with key.events: a READ-only registration
    of a readable+writable socket reports READ only."""
    rd, wr = socketpair()
    wr.send(b"x")
    key = sel.register(rd, EVENT_READ)
    std_sel.register(rd, EVENT_READ)
    assert sel.select(0) == [(key, EVENT_READ)]
    assert _same_result(sel.select(0), std_sel.select(0))


@pytest.mark.parametrize("events", [EVENT_READ, EVENT_WRITE, EVENT_BOTH])
@pytest.mark.parametrize(
    "situation",
    ["idle", "readable", "full", "readable_full", "peer_closed", "peer_shut_wr",
     "peer_shut_rd", "self_shut_wr", "self_shut_rdwr", "peer_closed_with_data"],
)
def test_select_translation_like_stdlib(sel, std_sel, socketpair, events, situation):
    """HUP/ERR/... translate as the stdlib does for every socket situation."""
    import socket

    a, b = socketpair()
    if situation in ("readable", "readable_full", "peer_closed_with_data"):
        b.send(b"data")
    if situation in ("full", "readable_full"):
        fill(a)
    if situation in ("peer_closed", "peer_closed_with_data"):
        b.close()
    if situation == "peer_shut_wr":
        b.shutdown(socket.SHUT_WR)
    if situation == "peer_shut_rd":
        b.shutdown(socket.SHUT_RD)
    if situation == "self_shut_wr":
        a.shutdown(socket.SHUT_WR)
    if situation == "self_shut_rdwr":
        a.shutdown(socket.SHUT_RDWR)
    sel.register(a, events)
    std_sel.register(a, events)
    ours = sel.select(0)
    theirs = std_sel.select(0)
    assert _same_result(ours, theirs), (ours, theirs)
    for _key, ev in ours:
        assert ev and not ev & ~events


@needs_pipes
def test_select_pipe_hangup_like_stdlib(sel, std_sel):
    r, w = os.pipe()
    try:
        os.close(w)
        sel.register(r, EVENT_READ)
        std_sel.register(r, EVENT_READ)
        ours, theirs = sel.select(0), std_sel.select(0)
        assert _same_result(ours, theirs)
        assert [e for _, e in ours] == [EVENT_READ]
    finally:
        os.close(r)


@needs_fd_numbers
@pytest.mark.parametrize(
    "selector_class",
    class_params(
        fixes={
            "EpollSelector": "events of a stale kernel registration (dup'ed fd closed without "
            "a successful unregister) are never delivered under a new key with the same fd "
            "(stdlib: reported under the new key, masked to 0)"
        }
    ),
)
def test_unregistered_fd_events_skipped(sel, socketpair):
    """Kernel events for fds that are no longer registered are skipped, even when the fd
    number was registered again for another file."""
    rd, _wr = socketpair()
    fd = os.dup(rd.fileno())
    key = sel.register(fd, EVENT_READ | EVENT_WRITE)
    keep = os.dup(fd)  # keeps the open file description alive: epoll still watches it
    try:
        os.close(fd)
        assert sel.unregister(fd) is key  # the kernel may refuse: never an error
        assert sel.select(0) == []
        # the fd number comes back for a new socket, registered for READ (not readable)
        c, d = socketpair()
        if c.fileno() == fd:
            new, extra = c, None
        else:  # the kernel picked another number: put the new socket on fd ourselves
            os.dup2(c.fileno(), fd)
            new, extra = fd, fd
        try:
            new_key = sel.register(new, EVENT_READ)
            assert new_key.fd == fd
            assert sel.select(0) == []
            d.send(b"x")
            assert sel.select(0) == [(new_key, EVENT_READ)]
        finally:
            if extra is not None:
                sel.unregister(extra)
                os.close(extra)
    finally:
        os.close(keep)


@windows_fixes_stdlib(EMPTY_SETS)
def test_select_after_unregister_of_ready_fd(sel, socketpair):
    rd, wr = socketpair()
    sel.register(wr, EVENT_WRITE)
    key = sel.register(rd, EVENT_READ)
    wr.send(b"x")
    sel.unregister(wr)
    assert sel.select(0) == [(key, EVENT_READ)]
    sel.unregister(rd)
    assert sel.select(0) == []


# --- timeouts: never early --------------------------------------------------------------------

def _elapsed(func, *args):
    t0 = time.monotonic()
    result = func(*args)
    return result, time.monotonic() - t0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("timeout", [0.0001, 0.0005, 0.001, 0.0015, 0.01, 0.05, 0.2])
def test_select_never_returns_early(sel, socketpair, timeout):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    for _ in range(3):
        result, elapsed = _elapsed(sel.select, timeout)
        assert result == []
        assert elapsed >= timeout, (elapsed, timeout)
        assert elapsed < timeout + 5  # generous: only catches "never returns"


@windows_fixes_stdlib(EMPTY_SETS)
@pytest.mark.timeout(30)
@pytest.mark.parametrize("timeout", [0.001, 0.3])
def test_select_nothing_registered_sleeps(sel, timeout):
    result, elapsed = _elapsed(sel.select, timeout)
    assert result == []
    assert elapsed >= timeout
    assert elapsed < timeout + 5


@pytest.mark.timeout(30)
def test_select_one_second(sel, socketpair):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    result, elapsed = _elapsed(sel.select, 1)
    assert result == []
    assert 1 <= elapsed < 6


@pytest.mark.timeout(30)
@pytest.mark.parametrize("timeout", [0, -1, -0.0, -1e-9, float("-inf"), -(2**80), False,
                                     Fraction(-1, 2), Decimal(-1), Decimal("-Infinity")],
                         ids=repr)
def test_select_nonpositive_does_not_block(sel, std_sel, socketpair, timeout):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    std_sel.register(rd, EVENT_READ)
    theirs = outcome(std_sel.select, timeout)
    assert theirs == ("ok", [])
    result, elapsed = _elapsed(sel.select, timeout)
    assert result == []
    assert elapsed < 0.5


@pytest.mark.timeout(30)
def test_select_wakes_when_ready(sel, socketpair):
    import threading

    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ)
    timer = threading.Timer(0.2, wr.send, (b"x",))
    timer.start()
    try:
        result, elapsed = _elapsed(sel.select, 10)
        assert result == [(key, EVENT_READ)]
        assert 0.1 < elapsed < 5
    finally:
        timer.join()


# --- timeouts: edge values, exactly the stdlib's outcome --------------------------------------

EDGE_TIMEOUTS = [
    None, 0, 1e-9, 0.0001, Fraction(1, 1000), True, 2**31 / 1000 - 0.001,
    2**31 / 1000, 2**31 - 1, 2**31, 2**53, 2**63 - 1, 2**63, 2**64, 2**100, 9.3e9, 9.3e12,
    1e300, float("inf"), float("nan"), float("-nan"), Decimal("0.001"), Decimal(1),
    Decimal("NaN"), Decimal("Infinity"), Decimal("sNaN"), "1", "", b"1", 1j, 0j, [], (), {},
    object(), -1, float("-inf"), Fraction(-1, 2), Decimal(-1),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("timeout", EDGE_TIMEOUTS, ids=repr)
def test_select_timeout_edge_values(sel, std_sel, socketpair, timeout):
    """Register a writable socket so an accepted timeout returns at once; a refused one
    must raise the stdlib's exception type and message for this backend."""
    _rd, wr = socketpair()
    key = sel.register(wr, EVENT_WRITE)
    std_key = std_sel.register(wr, EVENT_WRITE)
    theirs = outcome(std_sel.select, timeout)
    ours = outcome(sel.select, timeout)
    if theirs[0] == "ok":
        assert theirs[1] == [(std_key, EVENT_WRITE)]
        assert ours == ("ok", [(key, EVENT_WRITE)])
    else:
        assert ours[0] == "raise", ours
        assert ours[1] is theirs[1], (ours, theirs)
        assert ours[2] == theirs[2], (ours, theirs)
    # and the selector still works
    assert sel.select(0) == [(key, EVENT_WRITE)]


class Seconds:
    """A user type with __le__/__mul__/__float__, like a unit-aware number."""

    def __init__(self, value):
        self.value = value

    def __le__(self, other):
        return self.value <= other

    def __gt__(self, other):
        return self.value > other

    def __lt__(self, other):
        return self.value < other

    def __mul__(self, other):
        return self.value * other

    def __float__(self):
        return float(self.value)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", [0.5, -1], ids=repr)
def test_select_timeout_user_type(sel, std_sel, socketpair, value):
    _rd, wr = socketpair()
    sel.register(wr, EVENT_WRITE)
    std_sel.register(wr, EVENT_WRITE)
    t = Seconds(value)
    theirs = outcome(std_sel.select, t)
    ours = outcome(sel.select, t)
    if theirs[0] == "ok":
        assert ours[0] == "ok" and _same_result(ours[1], theirs[1])
    else:
        assert ours == theirs


@pytest.mark.timeout(30)
def test_select_timeout_keyword(sel, socketpair):
    _rd, wr = socketpair()
    key = sel.register(wr, EVENT_WRITE)
    assert sel.select(timeout=None) == [(key, EVENT_WRITE)]
    assert sel.select(timeout=0.5) == [(key, EVENT_WRITE)]


@pytest.mark.timeout(30)
def test_select_timeout_bool_true_is_one_second(sel, socketpair):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    result, elapsed = _elapsed(sel.select, True)
    assert result == []
    assert elapsed >= 1
