"""close(), the context manager, behaviour after close, EpollSelector.fileno()."""

import gc
import os
import sys

import pytest
from _support import (
    EVENT_READ,
    EVENT_WRITE,
    WINDOWS,
    class_params,
    outcome,
    raised,
    stdlib_class,
)


def test_close_idempotent(selector_class, socketpair):
    rd, _wr = socketpair()
    sel = selector_class()
    sel.register(rd, EVENT_READ)
    assert sel.close() is None
    assert sel.close() is None
    assert sel.get_map() is None


def test_context_manager(selector_class, socketpair):
    rd, wr = socketpair()
    sel = selector_class()
    with sel as s:
        assert s is sel
        s.register(rd, EVENT_READ)
        s.register(wr, EVENT_WRITE)
    assert sel.get_map() is None
    for obj in (rd, wr):
        exc = raised(sel.get_key, obj)
        assert type(exc) is RuntimeError and exc.args == ("Selector is closed",)


def test_context_manager_closes_on_exception(selector_class):
    sel = selector_class()
    with pytest.raises(ZeroDivisionError), sel:
        1 / 0  # noqa: B018
    assert sel.get_map() is None


def test_exit_returns_falsy(sel):
    assert not sel.__exit__(None, None, None)
    assert not sel.__exit__(ValueError, ValueError("x"), None)


def test_after_close_like_stdlib(selector_class, socketpair):
    rd, _wr = socketpair()
    sel = selector_class()
    sel.register(rd, EVENT_READ, "d")
    sel.close()
    exc = raised(sel.get_key, rd)
    assert type(exc) is RuntimeError and exc.args == ("Selector is closed",)
    assert sel.get_map() is None
    for call in (lambda: sel.unregister(rd), lambda: sel.modify(rd, EVENT_WRITE)):
        exc = raised(call)
        assert type(exc) is KeyError and exc.args == (f"{rd!r} is not registered",)
    # invalid events on a closed selector: still "not registered" first for modify
    exc = raised(sel.modify, rd, 0)
    assert type(exc) is KeyError
    sel.close()


@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id == "EpollSelector"])
def test_epoll_after_close_register_select(selector_class, socketpair):
    _rd, wr = socketpair()
    sel = selector_class()
    std = stdlib_class(selector_class)()
    sel.close()
    std.close()
    for call in (
        lambda s: s.register(wr, EVENT_WRITE),
        lambda s: s.select(0),
        lambda s: s.select(None),
        lambda s: s.fileno(),
    ):
        theirs = outcome(call, std)
        assert theirs[0] == "raise" and theirs[1] is ValueError
        assert outcome(call, sel) == theirs
    # the failed register left nothing behind
    assert sel.get_map() is None
    exc = raised(sel.get_key, wr)
    assert type(exc) is RuntimeError


@pytest.mark.fixes_stdlib(
    "gh-91433: poll/select register() and select() after close() raise "
    "RuntimeError('Selector is closed') (stdlib: keeps working / returns [] or hangs)"
)
@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "selector_class", [p for p in class_params() if p.id in ("PollSelector", "SelectSelector")]
)
def test_poll_select_after_close_raise(selector_class, socketpair):
    rd, wr = socketpair()
    sel = selector_class()
    sel.register(rd, EVENT_READ)
    sel.close()
    for call in (
        lambda: sel.register(wr, EVENT_WRITE),
        lambda: sel.select(0),
        lambda: sel.select(None),
        lambda: sel.select(-1),
        lambda: sel.select(5),
    ):
        exc = raised(call)
        assert type(exc) is RuntimeError
        assert exc.args == ("Selector is closed",)
    assert sel.get_map() is None


@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id == "EpollSelector"])
def test_epoll_fileno(selector_class):
    sel = selector_class()
    fd = sel.fileno()
    assert type(fd) is int and fd >= 0
    assert sel.fileno() == fd
    if sys.platform.startswith("linux"):
        assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventpoll]"
        flags = _fd_flags(fd)
        assert flags is not None and flags & 1  # FD_CLOEXEC like select.epoll()
    sel.close()
    # the kernel object is gone (no thread is waiting on it)
    if sys.platform.startswith("linux"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = None
        assert target != "anon_inode:[eventpoll]"
    exc = raised(sel.fileno)
    std = stdlib_class(selector_class)()
    std.close()
    expected = raised(std.fileno)
    assert type(exc) is type(expected) and exc.args == expected.args


def _fd_flags(fd):
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return None


def test_selector_fds_are_released(selector_class):
    """Creating and closing many selectors does not leak fds."""
    if WINDOWS or not os.path.isdir("/proc/self/fd"):  # (Wine shows Linux's /proc)
        pytest.skip("counts this process's fds in /proc/self/fd")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        s = selector_class()
        s.select(0)
        s.close()
    after = len(os.listdir("/proc/self/fd"))
    assert after <= before + 2


def test_selector_fds_released_without_close(selector_class):
    """Dropping a selector without close() releases its fd (at the latest at gc)."""
    if WINDOWS or not os.path.isdir("/proc/self/fd"):  # (Wine shows Linux's /proc)
        pytest.skip("counts this process's fds in /proc/self/fd")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        s = selector_class()
        s.select(0)
        del s
    gc.collect()  # the stdlib's selector and its map view form a cycle
    after = len(os.listdir("/proc/self/fd"))
    assert after <= before + 2
