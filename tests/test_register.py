"""register() / unregister() / get_key(): returned keys, event validation, duplicates,
kernel refusals leave no key behind."""

import enum
import errno
import os
import tempfile

import pytest
from _support import (
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    FilenoObj,
    class_params,
    key_tuple,
    needs_pipes,
    outcome,
    raised,
    stdlib,
)


def test_register_returns_key(sel, socketpair):
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ, "data")
    assert type(key) is stdlib.SelectorKey
    assert key.fileobj is rd
    assert key.fd == rd.fileno()
    assert key.events == EVENT_READ
    assert key.data == "data"
    assert sel.get_key(rd) is key
    assert sel.get_map()[rd] is key


def test_register_data_defaults_to_none(sel, socketpair):
    rd, wr = socketpair()
    assert sel.register(rd, EVENT_READ).data is None
    assert sel.register(wr, events=EVENT_WRITE, data=None).data is None


def test_register_keyword_arguments(sel, socketpair):
    rd, _wr = socketpair()
    data = object()
    key = sel.register(fileobj=rd, events=EVENT_BOTH, data=data)
    assert key.fileobj is rd and key.events == EVENT_BOTH and key.data is data
    assert sel.modify(fileobj=rd, events=EVENT_READ, data=data).events == EVENT_READ
    assert sel.unregister(fileobj=rd).fileobj is rd


def test_register_keeps_event_and_data_objects(sel, socketpair):
    rd, _wr = socketpair()

    class Flag(enum.IntFlag):
        READ = 1
        WRITE = 2

    events = Flag.READ | Flag.WRITE
    data = {"some": "dict"}
    key = sel.register(rd, events, data)
    assert key.events is events
    assert key.data is data


@pytest.mark.parametrize(
    "events",
    [0, 4, 8, 5, 7, -1, -2, 999999, 2**70, None, False, "", (), 0.0],
    ids=repr,
)
def test_register_invalid_events(sel, std_sel, socketpair, events):
    rd, _wr = socketpair()
    expected = raised(std_sel.register, rd, events)
    assert type(expected) is ValueError
    exc = raised(sel.register, rd, events)
    assert type(exc) is ValueError
    assert exc.args == (f"Invalid events: {events!r}",) == expected.args
    assert len(sel.get_map()) == 0


@pytest.mark.parametrize("events", [1.5, 3.0, "1", b"\x01", [1], object()], ids=repr)
def test_register_non_int_events(sel, std_sel, socketpair, events):
    """`events & ~3` raises TypeError for truthy non-ints, with Python's own message."""
    rd, _wr = socketpair()
    expected = raised(std_sel.register, rd, events)
    exc = raised(sel.register, rd, events)
    assert type(exc) is type(expected) is TypeError
    assert exc.args == expected.args
    assert len(sel.get_map()) == 0


@pytest.mark.parametrize("events", [True, EVENT_READ, EVENT_WRITE, EVENT_BOTH], ids=repr)
def test_register_valid_events(sel, std_sel, socketpair, events):
    rd, _wr = socketpair()
    key = sel.register(rd, events)
    assert key_tuple(key) == key_tuple(std_sel.register(rd, events))
    assert key.events is events


def test_register_twice(sel, socketpair):
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ)
    fd = rd.fileno()
    for other in (rd, fd, FilenoObj(fd), FilenoObj(str(fd))):
        for events in (EVENT_READ, EVENT_WRITE):
            exc = raised(sel.register, other, events, "x")
            assert type(exc) is KeyError
            assert exc.args == (f"{other!r} (FD {fd}) is already registered",)
    # invalid events are reported before the duplicate
    exc = raised(sel.register, rd, 0)
    assert type(exc) is ValueError
    assert sel.get_key(rd) is key
    assert list(sel.get_map()) == [fd]
    sel.register(wr, EVENT_WRITE)
    assert list(sel.get_map()) == [fd, wr.fileno()]


def test_unregister_returns_key(sel, socketpair):
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ, "data")
    assert sel.unregister(rd) is key
    assert len(sel.get_map()) == 0
    exc = raised(sel.get_key, rd)
    assert type(exc) is KeyError and exc.args == (f"{rd!r} is not registered",)
    key2 = sel.register(rd, EVENT_WRITE)
    assert key2 is not key and key2.events == EVENT_WRITE
    assert sel.unregister(rd.fileno()) is key2


def test_unregister_not_registered(sel, socketpair):
    rd, wr = socketpair()
    sel.register(wr, EVENT_WRITE)
    for obj in (rd, rd.fileno(), 999999, FilenoObj(rd.fileno())):
        exc = raised(sel.unregister, obj)
        assert type(exc) is KeyError
        assert exc.args == (f"{obj!r} is not registered",)
        assert exc.__cause__ is None
    assert len(sel.get_map()) == 1


def test_get_key_not_registered(sel, socketpair):
    rd, _wr = socketpair()
    for obj in (rd, rd.fileno(), 999999):
        exc = raised(sel.get_key, obj)
        assert type(exc) is KeyError and exc.args == (f"{obj!r} is not registered",)


def test_get_key_by_any_object_with_that_fd(sel, socketpair):
    rd, _wr = socketpair()
    key = sel.register(rd.fileno(), EVENT_READ)
    assert sel.get_key(rd) is key
    assert sel.get_key(FilenoObj(rd.fileno())) is key
    assert sel.get_key(rd.fileno()) is key


def test_register_unregister_many(sel, socketpair):
    pairs = [socketpair() for _ in range(40)]
    socks = [s for p in pairs for s in p]
    keys = [sel.register(s, EVENT_READ if i % 2 else EVENT_WRITE, i) for i, s in enumerate(socks)]
    assert len(sel.get_map()) == len(socks)
    assert [k.data for k in sel.get_map().values()] == list(range(len(socks)))
    for s, k in zip(socks[::2], keys[::2]):
        assert sel.unregister(s) is k
    assert list(sel.get_map()) == [s.fileno() for s in socks[1::2]]
    assert len(sel.select(0)) == 0  # only readers left, nothing sent


# --- kernel refusals -------------------------------------------------------------------------

@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id == "EpollSelector"])
def test_epoll_regular_file(sel, std_sel):
    with tempfile.TemporaryFile() as f:
        expected = raised(std_sel.register, f, EVENT_READ)
        exc = raised(sel.register, f, EVENT_READ)
        assert type(exc) is type(expected) is PermissionError
        assert exc.errno == errno.EPERM
        assert exc.args == expected.args
        # no key left behind
        exc = raised(sel.get_key, f)
        assert type(exc) is KeyError
        assert len(sel.get_map()) == 0
        assert f not in sel.get_map()
        exc = raised(sel.unregister, f)
        assert type(exc) is KeyError
        # and the same fd can be registered once it is something epoll accepts
        r, w = os.pipe()
        try:
            assert sel.register(r, EVENT_READ).fd == r
        finally:
            sel.unregister(r)
            os.close(r)
            os.close(w)


@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id == "EpollSelector"])
def test_epoll_register_own_fd(sel, std_sel):
    """epoll refuses to watch itself (EINVAL): the same OSError, no key."""
    ours = outcome(sel.register, sel.fileno(), EVENT_READ)
    theirs = outcome(std_sel.register, std_sel.fileno(), EVENT_READ)
    assert ours == theirs
    assert ours[0] == "raise" and issubclass(ours[1], OSError) and ours[2][0] == errno.EINVAL
    assert len(sel.get_map()) == 0


@needs_pipes
@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id != "EpollSelector"])
def test_regular_file_accepted_by_poll_and_select(sel, std_sel):
    with tempfile.TemporaryFile() as f:
        key = sel.register(f, EVENT_BOTH)
        std_key = std_sel.register(f, EVENT_BOTH)
        assert key_tuple(key) == key_tuple(std_key)
        # regular files are always ready
        assert sel.select(0) == [(key, EVENT_BOTH)]
        assert std_sel.select(0) == [(std_key, EVENT_BOTH)]
