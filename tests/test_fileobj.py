"""fileobj -> fd: ints and bools are fds, otherwise int(fileobj.fileno()); which errors become
ValueError("Invalid file object: ...") and which propagate; negative fds; closed sockets
found by identity."""

import errno
import os
import socket

import pytest
from _support import (
    CLASS_NAMES,
    EVENT_READ,
    EVENT_WRITE,
    SELECTOR_CLASSES,
    WINDOWS,
    FilenoObj,
    class_params,
    key_tuple,
    kind,
    needs_fd_numbers,
    outcome,
    raised,
)


def _invalid_file_object(obj):
    return f"Invalid file object: {obj!r}"


# --- what counts as an fd -------------------------------------------------------------------

def test_int_fd(sel, socketpair):
    rd, _wr = socketpair()
    fd = rd.fileno()
    key = sel.register(fd, EVENT_READ)
    assert key.fileobj is fd or key.fileobj == fd
    assert type(key.fileobj) is int and type(key.fd) is int
    assert key.fd == fd
    assert sel.get_key(rd) is key  # looked up by fd, whatever the object
    assert sel.unregister(rd) is key


class IntSub(int):
    pass


def test_int_subclass_is_an_fd(sel, socketpair):
    rd, _wr = socketpair()
    fd = IntSub(rd.fileno())
    key = sel.register(fd, EVENT_READ)
    assert key.fileobj is fd
    assert key.fd == rd.fileno()


@pytest.mark.parametrize("value", [True, False], ids=["True", "False"])
def test_bool_is_an_fd(sel, std_sel, value):
    """bool is an int: True is fd 1, False is fd 0 (what happens then depends on what fds
    0/1 are, so compare with the stdlib doing the same)."""
    ours = outcome(sel.register, value, EVENT_WRITE)
    theirs = outcome(std_sel.register, value, EVENT_WRITE)
    if theirs[0] == "ok":
        assert ours[0] == "ok", ours
        assert key_tuple(ours[1]) == key_tuple(theirs[1])
        assert ours[1].fd is value or type(ours[1].fd) is type(theirs[1].fd)
        assert sel.unregister(int(value)) is ours[1]
    else:
        assert ours == theirs


@pytest.mark.parametrize("value", [True, False], ids=["True", "False"])
def test_fileno_returning_bool(sel, std_sel, value):
    """int(fileobj.fileno()) turns a bool into a plain int fd (compare with the stdlib:
    what fds 0/1 are depends on how the tests run)."""
    obj = FilenoObj(value)
    ours = outcome(sel.register, obj, EVENT_WRITE)
    theirs = outcome(std_sel.register, obj, EVENT_WRITE)
    if theirs[0] == "ok":
        assert ours[0] == "ok", ours
        assert key_tuple(ours[1]) == key_tuple(theirs[1])
        assert type(ours[1].fd) is int
    else:
        assert ours == theirs


def test_fileno_returning_str_and_float(sel, socketpair):
    rd, _wr = socketpair()
    for fileno in (str(rd.fileno()), rd.fileno() + 0.75):
        obj = FilenoObj(fileno)
        key = sel.register(obj, EVENT_READ)
        assert key.fileobj is obj
        assert key.fd == rd.fileno() and type(key.fd) is int
        assert sel.get_key(rd) is key
        assert sel.unregister(obj) is key


@pytest.mark.parametrize(
    "value",
    ["abc", None, object(), [1], 1j, "", AttributeError, TypeError, ValueError,
     AttributeError("attr"), UnicodeDecodeError("utf-8", b"", 0, 1, "bad")],
    ids=repr,
)
def test_fileno_errors_become_invalid_file_object(sel, value):
    obj = FilenoObj(value)
    exc = raised(sel.register, obj, EVENT_READ)
    assert type(exc) is ValueError
    assert exc.args == (_invalid_file_object(obj),)
    assert exc.__cause__ is None
    assert len(sel.get_map()) == 0
    for method in (sel.unregister, sel.get_key):
        exc = raised(method, obj)
        assert type(exc) is ValueError and exc.args == (_invalid_file_object(obj),)
    exc = raised(sel.modify, obj, EVENT_READ)
    assert type(exc) is ValueError and exc.args == (_invalid_file_object(obj),)


@pytest.mark.parametrize(
    "error",
    [OSError(errno.EBADF, "closed"), RuntimeError("boom"), ZeroDivisionError()],
    ids=lambda e: type(e).__name__,
)
def test_other_fileno_errors_propagate(sel, error):
    obj = FilenoObj(error)
    for call in (
        lambda: sel.register(obj, EVENT_READ),
        lambda: sel.unregister(obj),
        lambda: sel.get_key(obj),
        lambda: sel.modify(obj, EVENT_READ),
        lambda: sel.get_map().get(obj),
        lambda: obj in sel.get_map(),
        lambda: sel.get_map()[obj],
    ):
        assert raised(call) is error
    assert len(sel.get_map()) == 0


def test_keyerror_from_fileno_like_stdlib(sel, std_sel):
    """A KeyError from fileno() looks like "not registered" to the callers that catch it."""
    obj = FilenoObj(KeyError("k"))
    for name, call in (
        ("register", lambda s: s.register(obj, EVENT_READ)),
        ("unregister", lambda s: s.unregister(obj)),
        ("get_key", lambda s: s.get_key(obj)),
        ("modify", lambda s: s.modify(obj, EVENT_READ)),
        ("get", lambda s: s.get_map().get(obj, "default")),
        ("in", lambda s: obj in s.get_map()),
        ("getitem", lambda s: s.get_map()[obj]),
    ):
        assert outcome(call, sel) == outcome(call, std_sel), name
    assert len(sel.get_map()) == 0


@pytest.mark.parametrize("obj", [object(), "0", b"3", 1.0, None, 3.0], ids=repr)
def test_objects_without_fileno(sel, obj):
    exc = raised(sel.register, obj, EVENT_READ)
    assert type(exc) is ValueError and exc.args == (_invalid_file_object(obj),)
    exc = raised(sel.unregister, obj)
    assert type(exc) is ValueError and exc.args == (_invalid_file_object(obj),)


@pytest.mark.parametrize("fd", [-1, -2, -(2**31), -(2**70)])
def test_negative_fd(sel, fd):
    for call in (
        lambda: sel.register(fd, EVENT_READ),
        lambda: sel.register(FilenoObj(fd), EVENT_READ),
        lambda: sel.unregister(fd),
        lambda: sel.get_key(fd),
        lambda: sel.modify(fd, EVENT_READ),
        lambda: fd in sel.get_map(),
    ):
        exc = raised(call)
        assert type(exc) is ValueError
        assert exc.args == (f"Invalid file descriptor: {fd}",)
    assert len(sel.get_map()) == 0


def test_events_checked_before_fileobj(sel):
    exc = raised(sel.register, object(), 0)
    assert type(exc) is ValueError and exc.args == ("Invalid events: 0",)
    exc = raised(sel.register, -1, 4)
    assert type(exc) is ValueError and exc.args == ("Invalid events: 4",)


# --- closed sockets: lookup by identity ------------------------------------------------------

def test_closed_socket_found_by_identity(sel, socketpair):
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ, "d")
    fd = rd.fileno()
    rd.close()
    assert rd.fileno() == -1
    assert rd in sel.get_map()
    assert sel.get_map()[rd] is key
    assert sel.get_map().get(rd) is key
    assert sel.get_key(rd) is key
    assert list(sel.get_map()) == [fd]
    key2 = sel.modify(rd, EVENT_READ, "e")
    assert key2.fileobj is rd and key2.data == "e"
    assert sel.unregister(rd) is key2
    assert len(sel.get_map()) == 0
    # now it is not registered any more: the original ValueError comes back
    for call in (lambda: sel.unregister(rd), lambda: sel.get_key(rd), lambda: rd in sel.get_map()):
        exc = raised(call)
        assert type(exc) is ValueError and exc.args == ("Invalid file descriptor: -1",)


def test_closed_unregistered_socket_is_invalid(sel, socketpair):
    rd, wr = socketpair()
    sel.register(wr, EVENT_WRITE)
    rd.close()
    exc = raised(sel.register, rd, EVENT_READ)
    assert type(exc) is ValueError and exc.args == ("Invalid file descriptor: -1",)
    exc = raised(sel.get_map().get, rd)
    assert type(exc) is ValueError


def test_identity_not_equality(sel, socketpair):
    """The fallback search is by identity: an equal but distinct object is not found."""
    rd, _wr = socketpair()

    class Eq(FilenoObj):
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    a = Eq(rd.fileno())
    key = sel.register(a, EVENT_READ)
    a.value = ValueError  # fileno() now raises ValueError: found by identity
    assert sel.get_key(a) is key
    b = Eq(ValueError)
    exc = raised(sel.get_key, b)
    assert type(exc) is ValueError and exc.args == (_invalid_file_object(b),)
    assert sel.unregister(a) is key


def test_unregister_after_fd_close(sel, socketpair):
    rd, wr = socketpair()
    r, w = socket.dup(rd.fileno()), socket.dup(wr.fileno())
    sel.register(r, EVENT_READ)
    sel.register(w, EVENT_WRITE)
    socket.close(r)
    socket.close(w)
    # the kernel may refuse the removal (closed fd): never an error
    assert sel.unregister(r).fd == r
    assert sel.unregister(w).fd == w
    assert len(sel.get_map()) == 0


@needs_fd_numbers
def test_unregister_after_fd_close_and_reuse(sel, socketpair):
    rd, wr = socketpair()
    r, w = os.dup(rd.fileno()), os.dup(wr.fileno())
    sel.register(r, EVENT_READ)
    sel.register(w, EVENT_WRITE)
    rd2, wr2 = socketpair()
    os.close(r)
    os.close(w)
    os.dup2(rd2.fileno(), r)
    os.dup2(wr2.fileno(), w)
    try:
        sel.unregister(r)
        sel.unregister(w)
        assert len(sel.get_map()) == 0
        # the reused fds can be registered again
        assert sel.register(r, EVENT_READ).fd == r
    finally:
        os.close(r)
        os.close(w)


# --- huge fds --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "selector_class",
    [p for p in class_params() if p.id != "SelectSelector"],
)
@pytest.mark.parametrize("fd", [2**31, 2**63, 2**64, 2**100], ids=lambda v: f"2**{v.bit_length() - 1}")
def test_fd_above_int_max(sel, std_sel, fd):
    expected = raised(std_sel.register, fd, EVENT_READ)
    assert type(expected) is OverflowError
    for fileobj in (fd, FilenoObj(fd)):
        exc = raised(sel.register, fileobj, EVENT_READ)
        assert type(exc) is OverflowError and exc.args == expected.args
        assert len(sel.get_map()) == 0


@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id == "SelectSelector"])
@pytest.mark.fixes_stdlib("SelectSelector rejects fds > INT_MAX at register() (stdlib: select())")
@pytest.mark.parametrize("fd", [2**31, 2**63, 2**100], ids=lambda v: f"2**{v.bit_length() - 1}")
def test_select_selector_fd_above_int_max_fails_at_register(sel, fd):
    exc = raised(sel.register, fd, EVENT_READ)
    assert type(exc) is OverflowError
    assert exc.args == ("Python int too large to convert to C int",)
    assert len(sel.get_map()) == 0
    assert sel.select(0) == []


@pytest.mark.skipif(
    WINDOWS, reason="FD_SETSIZE bounds fd numbers on Unix; Windows' select() counts sockets "
    "(tests/test_windows.py)"
)
@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id == "SelectSelector"])
@pytest.mark.parametrize("fd", [1024, 65536, 2**31 - 1])
def test_select_selector_fd_above_fd_setsize(sel, std_sel, fd):
    """Register accepts it; select() raises the stdlib's ValueError; unregister recovers."""
    key = sel.register(fd, EVENT_READ)
    std_sel.register(fd, EVENT_READ)
    assert key.fd == fd
    expected = raised(std_sel.select, 0)
    exc = raised(sel.select, 0)
    assert type(expected) is ValueError
    assert type(exc) is ValueError and exc.args == expected.args
    assert exc.args == ("filedescriptor out of range in select()",)
    assert sel.unregister(fd) is key
    assert sel.select(0) == []


@pytest.mark.parametrize("selector_class", SELECTOR_CLASSES, ids=CLASS_NAMES)
def test_never_opened_fd(sel, std_sel, selector_class):
    """Same outcome as the stdlib, at register and at select, for an fd that is not open."""
    fd = 1000
    while True:
        try:
            os.fstat(fd)
        except OSError:
            break
        fd += 1
    assert fd < 1024
    ours = outcome(sel.register, fd, EVENT_READ)
    theirs = outcome(std_sel.register, fd, EVENT_READ)
    if theirs[0] == "ok":
        assert ours[0] == "ok"
        assert key_tuple(ours[1]) == key_tuple(theirs[1])
        s_ours = outcome(sel.select, 0)
        s_theirs = outcome(std_sel.select, 0)
        if s_theirs[0] == "ok":
            assert s_ours[0] == "ok"
            assert [(key_tuple(k), e) for k, e in s_ours[1]] == [
                (key_tuple(k), e) for k, e in s_theirs[1]
            ]
        else:
            assert s_ours == s_theirs
        assert sel.unregister(fd) is ours[1]
    else:
        assert ours == theirs
        assert isinstance(ours[1](*ours[2]), OSError)
        assert len(sel.get_map()) == 0
    if kind(selector_class) == "EpollSelector":
        assert theirs[0] == "raise" and theirs[1] is OSError and theirs[2][0] == errno.EBADF
