"""modify(): lookup first, same key object when nothing changed, data compared with `!=`,
which fileobj the new key keeps and where it sits in the map (per backend, as the stdlib),
kernel failures, and our fixes (event validation, nothing changed on error)."""

import errno
import os

import pytest
from _support import (
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    POLL_LIKE,
    REINSERTING,
    FilenoObj,
    class_params,
    key_tuple,
    kind,
    raised,
    stdlib_class,
)


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class Touchy:
    """Comparing it raises."""

    def __eq__(self, other):
        raise ArithmeticError("compared a Touchy")

    __ne__ = __eq__
    __hash__ = object.__hash__


def test_modify_not_registered(sel, socketpair):
    rd, wr = socketpair()
    sel.register(wr, EVENT_WRITE)
    for obj in (rd, rd.fileno(), 999999):
        exc = raised(sel.modify, obj, EVENT_READ)
        assert type(exc) is KeyError
        assert exc.args == (f"{obj!r} is not registered",)


@pytest.mark.parametrize("events", [0, 4, -1, None, 1.5], ids=repr)
def test_modify_not_registered_checked_before_events(sel, socketpair, events):
    rd, _wr = socketpair()
    exc = raised(sel.modify, rd, events)
    assert type(exc) is KeyError and exc.args == (f"{rd!r} is not registered",)


def test_modify_invalid_fileobj(sel):
    obj = object()
    exc = raised(sel.modify, obj, EVENT_READ)
    assert type(exc) is ValueError and exc.args == (f"Invalid file object: {obj!r}",)


def test_modify_nothing_changed_returns_same_key(sel, socketpair):
    rd, wr = socketpair()
    data = [1, 2]
    key = sel.register(rd, EVENT_READ, data)
    other = sel.register(wr, EVENT_WRITE)
    assert sel.modify(rd, EVENT_READ, data) is key
    # equal, not identical: still "nothing changed", the old data object stays
    assert sel.modify(rd, EVENT_READ, [1, 2]) is key
    assert sel.get_key(rd).data is data
    # events equal by value, other type: nothing changed either (`events != key.events`)
    assert sel.modify(rd, True, [1, 2]) is key
    assert sel.modify(rd, 1.0, [1, 2]) is key
    assert sel.get_key(rd).events == EVENT_READ and type(sel.get_key(rd).events) is int
    # through another object with the same fd
    assert sel.modify(rd.fileno(), EVENT_READ, data) is key
    assert sel.get_key(rd) is key
    assert list(sel.get_map().values()) == [key, other]


def test_modify_data_compared_with_ne(sel, socketpair):
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ, "old")
    weird = AlwaysEqual()
    # "old" != weird -> str.__ne__ -> NotImplemented -> weird.__ne__("old") -> False
    assert sel.modify(rd, EVENT_READ, weird) is key
    assert sel.get_key(rd).data == "old"
    key2 = sel.modify(rd, EVENT_READ, None)
    assert key2 is not key and key2.data is None


def test_modify_data_only(sel, socketpair):
    """Data changed only: a new key via _replace, same fileobj (even if another object with
    the same fd is passed), same place in the map, for every backend."""
    rd, wr = socketpair()
    key_rd = sel.register(rd, EVENT_READ, "a")
    key_wr = sel.register(wr, EVENT_WRITE, "b")
    new_data = object()
    key2 = sel.modify(FilenoObj(rd.fileno()), EVENT_READ, new_data)
    assert key2 is not key_rd
    assert key2.fileobj is rd
    assert key2.fd == rd.fileno() and key2.events == EVENT_READ and key2.data is new_data
    assert sel.get_key(rd) is key2
    assert list(sel.get_map().values()) == [key2, key_wr]
    # data defaults to None
    key3 = sel.modify(rd, EVENT_READ)
    assert key3.data is None and sel.get_key(rd) is key3


def test_modify_events(sel, socketpair, selector_class):
    """Events changed: poll-like backends _replace (old fileobj, same place); select and
    kqueue unregister + register (the new fileobj, moved to the end)."""
    rd, wr = socketpair()
    key_rd = sel.register(rd, EVENT_READ, "a")
    key_wr = sel.register(wr, EVENT_WRITE, "b")
    alias = FilenoObj(rd.fileno())
    key2 = sel.modify(alias, EVENT_BOTH, "c")
    assert key2 is not key_rd
    assert (key2.fd, key2.events, key2.data) == (rd.fileno(), EVENT_BOTH, "c")
    assert sel.get_key(rd) is key2
    if kind(selector_class) in POLL_LIKE:
        assert key2.fileobj is rd
        assert list(sel.get_map().values()) == [key2, key_wr]
    else:
        assert kind(selector_class) in REINSERTING
        assert key2.fileobj is alias
        assert list(sel.get_map().values()) == [key_wr, key2]
    # the kernel follows: rd is writable now
    ready = sorted(sel.select(0), key=lambda item: item[0].fd)
    expected = sorted([(key_wr, EVENT_WRITE), (key2, EVENT_WRITE)], key=lambda i: i[0].fd)
    assert ready == expected
    assert all(k is e for (k, _), (e, _) in zip(ready, expected))


def test_modify_events_same_object_same_data(sel, socketpair, std_sel):
    rd, _wr = socketpair()
    data = object()
    sel.register(rd, EVENT_READ, data)
    std_sel.register(rd, EVENT_READ, data)
    key = sel.modify(rd, EVENT_WRITE, data)
    std_key = std_sel.modify(rd, EVENT_WRITE, data)
    assert key_tuple(key) == key_tuple(std_key)
    assert [(key_tuple(k), e) for k, e in sel.select(0)] == [
        (key_tuple(k), e) for k, e in std_sel.select(0)
    ]


def test_modify_follows_kernel(sel, socketpair):
    rd, wr = socketpair()
    sel.register(rd, EVENT_READ)
    assert sel.select(0) == []
    key = sel.modify(rd, EVENT_WRITE)
    assert sel.select(0) == [(key, EVENT_WRITE)]
    key = sel.modify(rd, EVENT_BOTH)
    assert sel.select(0) == [(key, EVENT_WRITE)]
    wr.send(b"x")
    assert sel.select(0) == [(key, EVENT_BOTH)]
    key = sel.modify(rd, EVENT_READ)
    assert sel.select(0) == [(key, EVENT_READ)]


def test_modify_data_ne_raises_events_unchanged(sel, socketpair):
    """Events unchanged and `data != key.data` raises: propagates, nothing changed."""
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ, "a")
    exc = raised(sel.modify, rd, EVENT_READ, Touchy())
    assert type(exc) is ArithmeticError and exc.args == ("compared a Touchy",)
    assert sel.get_key(rd) is key


@pytest.mark.parametrize(
    "selector_class",
    [p for p in class_params() if p.id in REINSERTING],
)
def test_modify_reinserting_does_not_compare_data(sel, socketpair):
    """select/kqueue: events changed -> unregister + register, data is never compared."""
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ, "a")
    touchy = Touchy()
    key = sel.modify(rd, EVENT_WRITE, touchy)
    assert key.data is touchy and key.events == EVENT_WRITE
    assert sel.select(0) == [(key, EVENT_WRITE)]


@pytest.mark.parametrize(
    "selector_class",
    [
        p
        for p in class_params(
            fixes={
                name: "a failed modify keeps the registration (stdlib: unregistered first)"
                for name in REINSERTING
            }
        )
        if p.id in REINSERTING
    ],
)
def test_modify_events_of_closed_socket_reinserting(sel, std_sel, socketpair):
    """select/kqueue: modify with new events is unregister + register(fileobj); for a
    closed registered socket that register() fails like the stdlib's (fileno() is -1). The
    stdlib has dropped the registration by then; ours keeps it, unchanged."""
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ)
    std_sel.register(rd, EVENT_READ)
    rd.close()
    expected = raised(std_sel.modify, rd, EVENT_WRITE)
    assert type(expected) is ValueError
    assert expected.args == ("Invalid file descriptor: -1",)
    assert len(std_sel.get_map()) == 0
    exc = raised(sel.modify, rd, EVENT_WRITE)
    assert type(exc) is ValueError and exc.args == expected.args
    assert list(sel.get_map().values()) == [key]
    assert sel.unregister(rd) is key


@pytest.mark.parametrize(
    "selector_class",
    class_params(
        fixes={
            name: "a poll-like modify whose `data != key.data` raises changes nothing "
            "(stdlib: the kernel is already modified)"
            for name in POLL_LIKE
        }
    ),
)
def test_modify_events_data_ne_raises_changes_nothing(sel, socketpair, selector_class):
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ, "a")
    touchy = Touchy()
    if kind(selector_class) in REINSERTING:
        # stdlib behaviour, kept: no comparison on this path
        assert sel.modify(rd, EVENT_WRITE, touchy).data is touchy
        return
    exc = raised(sel.modify, rd, EVENT_WRITE, touchy)
    assert type(exc) is ArithmeticError and exc.args == ("compared a Touchy",)
    assert sel.get_key(rd) is key
    # the kernel still watches READ only: rd is writable but not readable
    assert sel.select(0) == []


# --- invalid events in modify (fix 1) --------------------------------------------------------

def _expected_event_error(events):
    try:
        if not events or events & ~EVENT_BOTH:
            return ValueError(f"Invalid events: {events!r}")
    except TypeError as exc:
        return exc
    raise AssertionError(f"{events!r} is valid")


@pytest.mark.fixes_stdlib(
    "modify() validates events like register() on every backend and a failed modify keeps "
    "the registration (stdlib poll/epoll accept 0/4, SelectSelector drops the key)"
)
@pytest.mark.parametrize(
    "events", [0, 4, 8, -1, 2**70, None, False, 1.5, "1", [1], 3.5], ids=repr
)
def test_modify_invalid_events_keeps_registration(sel, socketpair, events):
    rd, wr = socketpair()
    key_rd = sel.register(rd, EVENT_WRITE, "a")
    key_wr = sel.register(wr, EVENT_READ, "b")
    expected = _expected_event_error(events)
    exc = raised(sel.modify, rd, events, "new data")
    assert type(exc) is type(expected)
    assert exc.args == expected.args
    assert sel.get_key(rd) is key_rd
    assert list(sel.get_map().values()) == [key_rd, key_wr]
    assert sel.select(0) == [(key_rd, EVENT_WRITE)]


@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id in POLL_LIKE])
def test_modify_same_events_skips_validation(sel, socketpair):
    """Validation happens only when events != key.events (stdlib and ours agree)."""
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ, "a")
    assert sel.modify(rd, 1.0, "a") is key


# --- kernel failure in modify (bpo-30014) ----------------------------------------------------

@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id in POLL_LIKE])
def test_modify_kernel_failure_unregisters(sel, std_sel, socketpair, selector_class):
    """A modify the kernel refuses removes the registration and re-raises (stdlib
    bpo-30014); poll has no kernel state per fd, so there it succeeds."""
    rd, _wr = socketpair()
    fd = os.dup(rd.fileno())
    std_fd = os.dup(rd.fileno())
    sel.register(fd, EVENT_READ)
    std_sel.register(std_fd, EVENT_READ)
    os.close(fd)
    os.close(std_fd)
    ours = raised(sel.modify, fd, EVENT_WRITE) if kind(selector_class) == "EpollSelector" else None
    if ours is None:
        key = sel.modify(fd, EVENT_WRITE)
        assert sel.get_key(fd) is key
        std_sel.modify(std_fd, EVENT_WRITE)
        return
    expected = raised(std_sel.modify, std_fd, EVENT_WRITE)
    assert type(ours) is type(expected) and ours.args == expected.args
    assert ours.errno == errno.EBADF
    assert len(sel.get_map()) == 0
    exc = raised(sel.get_key, fd)
    assert type(exc) is KeyError


@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id == "EpollSelector"])
def test_modify_after_fd_reuse_unregisters(sel, socketpair):
    """The fd was closed and reused by a file epoll does not watch: ENOENT, key removed."""
    rd, _wr = socketpair()
    r, w = os.pipe()
    fd = os.dup(rd.fileno())
    sel.register(fd, EVENT_READ)
    os.close(fd)
    try:
        os.dup2(r, fd)
        exc = raised(sel.modify, fd, EVENT_WRITE)
        assert type(exc) is FileNotFoundError and exc.errno == errno.ENOENT
        assert len(sel.get_map()) == 0
        # now the reused fd registers normally
        assert sel.register(fd, EVENT_READ).fd == fd
    finally:
        os.close(r)
        os.close(w)
        os.close(fd)


# --- modify() and Python subclasses (README "Known differences") ------------------------------

def _recording_subclass(base):
    """A subclass whose register/unregister record their calls and defer to ``super()``."""

    class Recording(base):
        def __init__(self):
            super().__init__()
            self.calls = []

        def register(self, fileobj, events, data=None):
            self.calls.append(("register", fileobj, events, data))
            return super().register(fileobj, events, data)

        def unregister(self, fileobj):
            self.calls.append(("unregister", fileobj))
            return super().unregister(fileobj)

    return Recording


def _modify_events(sel, rd):
    """Registers ``rd`` for READ, then modifies it to WRITE; returns the calls the
    overrides saw during the modify and the new key."""
    sel.register(rd, EVENT_READ, "a")
    sel.calls.clear()
    key = sel.modify(rd, EVENT_WRITE, "b")
    return sel.calls, key


@pytest.mark.parametrize("selector_class", [p for p in class_params() if p.id in REINSERTING])
def test_stdlib_reinserting_modify_dispatches_to_overrides(selector_class, socketpair):
    """The stdlib half of the README row: SelectSelector/KqueueSelector.modify() with new
    events goes through ``self.unregister`` and ``self.register`` (the overrides)."""
    rd, _wr = socketpair()
    sel = _recording_subclass(stdlib_class(selector_class))()
    try:
        calls, key = _modify_events(sel, rd)
    finally:
        sel.close()
    assert calls == [("unregister", rd), ("register", rd, EVENT_WRITE, "b")]
    assert (key.events, key.data) == (EVENT_WRITE, "b")


@pytest.mark.parametrize(
    "selector_class",
    class_params(
        fixes={
            name: "modify() is native: no dispatch to register/unregister overrides (stdlib "
            "SelectSelector/KqueueSelector call them)"
            for name in REINSERTING
        }
    ),
)
def test_modify_does_not_dispatch_to_overrides(selector_class, socketpair):
    """modify() with new events never calls the subclass's register/unregister (nor
    instance attributes patched over them), on every backend; the result is the same key
    the stdlib builds (for select/kqueue: re-inserted, the new fileobj)."""
    rd, _wr = socketpair()
    sel = _recording_subclass(selector_class)()
    try:
        calls, key = _modify_events(sel, rd)
        assert calls == []
        assert (key.fileobj, key.events, key.data) == (rd, EVENT_WRITE, "b")
        assert sel.get_key(rd) is key
        assert sel.select(0) == [(key, EVENT_WRITE)]
        # nor instance attributes over the methods (CPython's test mocks them)
        sel.register = lambda *args: calls.append(("patched register", args))
        sel.unregister = lambda *args: calls.append(("patched unregister", args))
        key = sel.modify(rd, EVENT_READ, "c")
        assert (key.events, key.data) == (EVENT_READ, "c") and sel.get_key(rd) is key
        assert calls == []
    finally:
        sel.__dict__.pop("register", None)
        sel.__dict__.pop("unregister", None)
        sel.close()
