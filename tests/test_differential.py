"""Differential testing: the same random operations on a stdlib selector and on the target's
selector of the same kind must give identical results (return values, exception types and
messages, and the full registration state after every step).

Both selectors watch the very same sockets and objects, so readiness is identical and keys
can be compared with fileobj/data identity. Where rselectors deliberately differs from the
stdlib (see README "Known differences"), the machine checks OUR behaviour instead and does
not apply the operation to the stdlib selector:

1. modify() with invalid events (after a successful lookup, events != key.events) raises
   like register() and changes nothing;
2. after close(), Poll/SelectSelector register() and select() raise
   RuntimeError("Selector is closed");
5. SelectSelector.register() of an fd > INT_MAX raises OverflowError;
6. a poll-like modify whose `data != key.data` raises changes nothing.
With RSELECTORS_UNDER_TEST=selectors there are no differences to model: both sides get
every operation.
"""

import os
import socket

import pytest
from _support import (
    CLASS_NAMES,
    EVENT_BOTH,
    IS_STDLIB,
    POLL_LIKE,
    REINSERTING,
    TARGET,
    FilenoObj,
    drain,
    fill,
    key_tuple,
    outcome,
    stdlib,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

FIXES = not IS_STDLIB
INT_MAX = 2**31 - 1
OVERFLOW = ("raise", OverflowError, ("Python int too large to convert to C int",))
N_PAIRS = 3
N_SOCKS = 2 * N_PAIRS


class Touchy:
    """Comparing it raises (exercises `data != key.data`)."""

    def __eq__(self, other):
        raise ArithmeticError("compared a Touchy")

    __ne__ = __eq__
    __hash__ = object.__hash__

    def __repr__(self):
        return "<Touchy>"


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __repr__(self):
        return "<AlwaysEqual>"


EVENTS = [1, 2, 3, 1, 2, 3, 0, 4, -1, 1.5, None, True, 2**70]
_LIST_A = [1]
_LIST_B = [1]  # equal to _LIST_A, not identical
DATA = [None, "s", object(), _LIST_A, _LIST_B, Touchy(), AlwaysEqual(), 0]
BAD_OBJECTS = [
    object(),
    FilenoObj(ValueError),
    FilenoObj(OSError(9, "fileno failed")),
    FilenoObj("junk"),
    -1,
    2**31,
    2**64,
    5000,
    True,
    False,
    None,
]

# fileobj specs, resolved against the machine's current sockets at each step
FILEOBJ_SPECS = (
    [("sock", i) for i in range(N_SOCKS)]
    + [("fd", i) for i in range(N_SOCKS)]
    + [("wrap", i) for i in range(N_SOCKS)]
    + [("dead", i) for i in range(3)]
    + [("bad", i) for i in range(len(BAD_OBJECTS))]
    + [("never", 0)]
)

fileobjs = st.sampled_from(FILEOBJ_SPECS)
events_st = st.sampled_from(EVENTS)
data_st = st.sampled_from(range(len(DATA)))
sock_index = st.integers(0, N_SOCKS - 1)


def _free_fd_below_setsize():
    fd = 1000
    while fd < 1024:
        try:
            os.fstat(fd)
        except OSError:
            return fd
        fd += 1
    raise RuntimeError("no free fd in [1000, 1024)")


def _events_error(events):
    """What register() raises for these events, or None if they are valid."""
    try:
        if not events or events & ~EVENT_BOTH:
            return ("raise", ValueError, (f"Invalid events: {events!r}",))
    except TypeError as exc:
        return ("raise", TypeError, exc.args)
    return None


def _fd_of(fileobj):
    """The stdlib's fileobj -> fd (no identity search); None if it would raise."""
    try:
        if isinstance(fileobj, int):
            fd = fileobj
        else:
            fd = int(fileobj.fileno())
    except Exception:  # noqa: BLE001 - any failure means "no fd"
        return None
    return fd if fd >= 0 else None


def _norm(result):
    """Normalise an outcome for comparison (keys as tuples, select results sorted)."""
    if result[0] == "raise":
        return result
    value = result[1]
    if isinstance(value, stdlib.SelectorKey):
        return ("ok", "key", key_tuple(value))
    if isinstance(value, list):
        items = sorted(value, key=lambda kv: (kv[0].fd, kv[1]))
        return ("ok", "list", [(key_tuple(k), e) for k, e in items])
    return ("ok", "value", type(value), value)


class DifferentialMachine(RuleBasedStateMachine):
    KIND = "SelectSelector"

    def __init__(self):
        super().__init__()
        self.never_fd = _free_fd_below_setsize()
        self.socks = []
        self.fdnum = []
        for _ in range(N_PAIRS):
            a, b = socket.socketpair()
            a.setblocking(False)
            b.setblocking(False)
            self.socks += [a, b]
        self.fdnum = [s.fileno() for s in self.socks]
        self.wrappers = [FilenoObj(str(fd)) for fd in self.fdnum]
        self.dead = []
        self.all_socks = list(self.socks)
        self.ours = getattr(TARGET, self.KIND)()
        self.theirs = getattr(stdlib, self.KIND)()
        self.views = (self.ours.get_map(), self.theirs.get_map())
        self.closed = False
        self.prev = ({}, {})

    def teardown(self):
        self.ours.close()
        self.theirs.close()
        for s in self.all_socks:
            s.close()

    # --- helpers ----------------------------------------------------------------------------

    def resolve(self, spec):
        what, i = spec
        if what == "sock":
            return self.socks[i]
        if what == "fd":
            return self.safe_number(i)
        if what == "wrap":
            self.wrappers[i].value = str(self.safe_number(i))
            return self.wrappers[i]
        if what == "dead":
            return self.dead[i] if i < len(self.dead) else BAD_OBJECTS[0]
        if what == "never":
            return self.never_fd
        return BAD_OBJECTS[i]

    def safe_number(self, i):
        """socks[i]'s fd number, unless it was closed and the number now belongs to
        something outside the machine (e.g. one of the selectors' own fds, which differ
        between the two sides): then a never-opened fd instead."""
        n = self.fdnum[i]
        if any(s.fileno() == n for s in self.socks):
            return n
        try:
            os.fstat(n)
        except OSError:
            return n  # free: both sides see a closed fd
        return self.never_fd

    def std_key(self, fileobj):
        """The stdlib's key for fileobj, or None (not registered, closed, or invalid)."""
        if self.closed:
            return None
        try:
            return self.theirs.get_map()[fileobj]
        except Exception:  # noqa: BLE001 - any failure: the normal comparison handles it
            return None

    def both(self, call):
        ours = outcome(call, self.ours)
        theirs = outcome(call, self.theirs)
        assert _norm(ours) == _norm(theirs), (ours, theirs)
        return ours, theirs

    def only_ours(self, call, expected):
        """Apply to our selector only; it must give `expected` and change nothing."""
        before = self.snapshot(self.ours)
        ours = outcome(call, self.ours)
        assert ours[0] == "raise", ours
        assert ours[1:] == expected[1:], (ours, expected)
        assert self.snapshot(self.ours) == before

    @staticmethod
    def snapshot(sel):
        m = sel.get_map()
        if m is None:
            return None
        return [(type(fd), fd, key_tuple(k), id(k)) for fd, k in m.items()]

    def returned_key_flags(self, pair):
        """For returned keys: is it the key in the map now / the key there before?"""
        flags = []
        for side, (res, sel) in enumerate(zip(pair, (self.ours, self.theirs))):
            if res[0] != "ok" or not isinstance(res[1], stdlib.SelectorKey):
                flags.append(None)
                continue
            key = res[1]
            m = sel.get_map()
            now = m.get(key.fd) if m is not None and not isinstance(key.fd, bool) else None
            flags.append((key is now, key is self.prev[side].get(key.fd)))
        assert flags[0] == flags[1], flags

    # --- registration rules -----------------------------------------------------------------

    @rule(spec=fileobjs, events=events_st, data=data_st)
    def register(self, spec, events, data):
        fileobj, data = self.resolve(spec), DATA[data]
        call = lambda s: s.register(fileobj, events, data)
        if FIXES and self.closed and self.KIND in ("PollSelector", "SelectSelector"):
            scratch = getattr(stdlib, self.KIND)()
            scratch.close()
            validation = outcome(call, scratch)
            ours = outcome(call, self.ours)
            # which check comes first is not specified: argument errors or "closed"
            allowed = [("raise", RuntimeError, ("Selector is closed",))]
            if validation[0] == "raise":
                allowed.append(validation)
            elif self.KIND == "SelectSelector" and (_fd_of(fileobj) or 0) > INT_MAX:
                allowed.append(OVERFLOW)
            assert ours in allowed, (ours, allowed)
            return
        if (
            FIXES
            and self.KIND == "SelectSelector"
            and not self.closed
            and _events_error(events) is None
            and (_fd_of(fileobj) or 0) > INT_MAX
        ):
            self.only_ours(call, OVERFLOW)
            return
        self.returned_key_flags(self.both(call))

    @rule(spec=fileobjs, events=events_st, data=data_st)
    def modify(self, spec, events, data):
        fileobj, data = self.resolve(spec), DATA[data]
        call = lambda s: s.modify(fileobj, events, data)
        key = self.std_key(fileobj)
        if FIXES and key is not None and events != key.events:
            error = _events_error(events)
            if error is not None:
                self.only_ours(call, error)
                return
            if self.KIND in POLL_LIKE:
                compared = outcome(lambda: data != key.data)
                if compared[0] == "raise":
                    self.only_ours(call, compared)
                    return
            if self.KIND in REINSERTING:
                # unregister() + register(): the stdlib drops the registration, then register()
                # fails to look up an object with no fd (a closed socket); ours raises the same
                # error and keeps the registration.
                looked_up = outcome(lambda: stdlib._fileobj_to_fd(fileobj))
                if looked_up[0] == "raise":
                    self.only_ours(call, looked_up)
                    return
        self.returned_key_flags(self.both(call))

    @rule(spec=fileobjs)
    def unregister(self, spec):
        fileobj = self.resolve(spec)
        self.returned_key_flags(self.both(lambda s: s.unregister(fileobj)))

    @rule(spec=fileobjs)
    def get_key(self, spec):
        fileobj = self.resolve(spec)
        self.returned_key_flags(self.both(lambda s: s.get_key(fileobj)))

    @rule()
    def select(self):
        if FIXES and self.closed and self.KIND in ("PollSelector", "SelectSelector"):
            self.only_ours(
                lambda s: s.select(0), ("raise", RuntimeError, ("Selector is closed",))
            )
            return
        ours, _theirs = self.both(lambda s: s.select(0))
        m = self.ours.get_map()
        if FIXES and ours[0] == "ok" and m is not None:
            for key, events in ours[1]:
                assert m[key.fd] is key  # the registered key object itself
                assert events and not events & ~key.events

    @rule(spec=fileobjs, default=st.booleans())
    def map_queries(self, spec, default):
        fileobj = self.resolve(spec)
        for current in (True, False):
            if current:
                views = (self.ours.get_map(), self.theirs.get_map())
                if views[0] is None or views[1] is None:
                    assert views == (None, None)
                    continue
            else:
                views = self.views
            pairs = [
                (lambda m: fileobj in m),
                (lambda m: m.get(fileobj, "dflt") if default else m.get(fileobj)),
                (lambda m: m[fileobj]),
                (lambda m: len(m)),
            ]
            for query in pairs:
                ours = outcome(query, views[0])
                theirs = outcome(query, views[1])
                assert _norm(ours) == _norm(theirs), (ours, theirs)

    # --- selector lifecycle -----------------------------------------------------------------

    @rule()
    def close_selector(self):
        self.ours.close()
        self.theirs.close()
        self.closed = True

    @precondition(lambda self: self.closed)
    @rule()
    def new_selector(self):
        self.ours = getattr(TARGET, self.KIND)()
        self.theirs = getattr(stdlib, self.KIND)()
        self.views = (self.ours.get_map(), self.theirs.get_map())
        self.closed = False
        self.prev = ({}, {})

    # --- socket state -----------------------------------------------------------------------

    def _open(self, i):
        return self.socks[i].fileno() != -1

    @rule(i=sock_index, size=st.sampled_from([1, 100, 5000]))
    def send_to(self, i, size):
        """Make socks[i] readable by sending from its peer."""
        peer = self.socks[i ^ 1]
        if peer.fileno() != -1:
            try:
                peer.send(b"d" * size)
            except OSError:
                pass

    @rule(i=sock_index)
    def drain(self, i):
        if self._open(i):
            try:
                drain(self.socks[i])
            except OSError:
                pass

    @rule(i=sock_index)
    def fill(self, i):
        """Fill socks[i]'s send buffer: it stops being writable, its peer is readable."""
        if self._open(i) and self.socks[i ^ 1].fileno() != -1:
            try:
                fill(self.socks[i])
            except OSError:
                pass

    @rule(i=sock_index, how=st.sampled_from([socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR]))
    def shutdown(self, i, how):
        if self._open(i):
            try:
                self.socks[i].shutdown(how)
            except OSError:
                pass

    @rule(i=sock_index)
    def close_socket(self, i):
        """Close a socket, registered or not (the selectors keep their keys)."""
        if self._open(i):
            self.socks[i].close()
            self.dead.insert(0, self.socks[i])
            del self.dead[3:]

    @rule(p=st.integers(0, N_PAIRS - 1))
    def new_pair(self, p):
        """Replace a pair with one closed socket by a new socketpair: the new sockets get
        the lowest free fds, i.e. usually the numbers just freed (fd reuse)."""
        i, j = 2 * p, 2 * p + 1
        if self._open(i) and self._open(j):
            return
        for k in (i, j):
            if self._open(k):
                self.socks[k].close()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        self.all_socks += [a, b]
        self.socks[i], self.socks[j] = a, b
        for k in (i, j):
            self.fdnum[k] = self.socks[k].fileno()
            self.wrappers[k].value = str(self.fdnum[k])

    # --- full state after every step ----------------------------------------------------------

    @invariant()
    def same_state(self):
        maps = (self.ours.get_map(), self.theirs.get_map())
        assert (maps[0] is None) == (maps[1] is None)
        if maps[0] is None:
            self.prev = ({}, {})
            return
        ours_items = [(type(fd), fd, key_tuple(k)) for fd, k in maps[0].items()]
        theirs_items = [(type(fd), fd, key_tuple(k)) for fd, k in maps[1].items()]
        assert ours_items == theirs_items
        assert len(maps[0]) == len(maps[1])
        assert [key_tuple(k) for k in maps[0].values()] == [
            key_tuple(k) for k in maps[1].values()
        ]
        # which keys are the same objects as after the previous step
        same = []
        for side, m in enumerate(maps):
            same.append([k is self.prev[side].get(fd) for fd, k in m.items()])
        assert same[0] == same[1]
        # every key is found again through its own fileobj
        for k_ours, k_theirs in zip(maps[0].values(), maps[1].values()):
            got_ours = outcome(self.ours.get_key, k_ours.fileobj)
            got_theirs = outcome(self.theirs.get_key, k_theirs.fileobj)
            assert _norm(got_ours) == _norm(got_theirs)
            if got_ours[0] == "ok":
                assert (got_ours[1] is k_ours) == (got_theirs[1] is k_theirs)
        self.prev = tuple({fd: k for fd, k in m.items()} for m in maps)
        # and what the kernel reports for it right now
        if not (FIXES and self.closed and self.KIND in ("PollSelector", "SelectSelector")):
            self.both(lambda s: s.select(0))


def _machine_test(kind, max_examples, steps):
    machine = type(f"Differential{kind}", (DifferentialMachine,), {"KIND": kind})
    machine.TestCase.settings = settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    return machine


DEFAULT_EXAMPLES = 300
DEFAULT_STEPS = 50


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", CLASS_NAMES)
def test_differential(kind):
    from hypothesis.stateful import run_state_machine_as_test

    machine = _machine_test(kind, DEFAULT_EXAMPLES, DEFAULT_STEPS)
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)


@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", CLASS_NAMES)
def test_differential_soak(kind):
    from hypothesis.stateful import run_state_machine_as_test

    machine = _machine_test(kind, 2000, 100)  # ~0.3 GB of hypothesis state per 1000
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)
