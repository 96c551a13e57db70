"""Reliability: bad input on every public method, differential against the stdlib.

Each case runs the same call on one of our selectors and on the stdlib selector of the same
kind, both holding the same registrations of the same sockets (one readable, one writable,
one both), then checks:

* the same outcome: exception type and args exactly, or an equal result;
* the registration state afterwards (map contents and order, what ``select(0)`` reports)
  equals the stdlib's, and is unchanged when the call raised;
* no kernel registration was left behind by a failed call: afterwards every spare socket
  (and the regular file) registers on both selectors with the same outcome, which would be
  ``FileExistsError`` on epoll if a failed ``register`` had left a kernel entry;
* a Rust panic (``pyo3_runtime.PanicException``) never reaches Python.

Deliberate differences (README "Known differences", conftest's ``fixes_stdlib``) are
modelled, not compared: ``modify()`` validates events like ``register()`` and keeps the
registration; a closed Poll/SelectSelector raises ``RuntimeError("Selector is closed")``
from ``register``/``select``; ``SelectSelector.register`` of an fd > INT_MAX raises
``OverflowError``. Wrong arity/keywords are compared by exception type only (the stdlib's
message names the Python function's qualname, PyO3's the method name).
"""

import enum
import errno
import os
import tempfile
from decimal import Decimal
from fractions import Fraction

import pytest
from _support import (
    CLASS_NAMES,
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    IS_STDLIB,
    WINDOWS,
    FilenoObj,
    fixes_stdlib,
    kind,
    needs_pipes,
    socketpair,
    stdlib_class,
)

from ._reliability import norm, norm_outcome, outcome, snapshot

pytestmark = pytest.mark.timeout(60)

INT_MAX = 2**31 - 1


class Abort(BaseException):
    """A KeyboardInterrupt-like BaseException subclass (not an Exception)."""


class IndexFd:
    """Has only ``__index__`` (int() falls back to it on 3.8+)."""

    def __init__(self, fd):
        self.fd = fd

    def __index__(self):
        return self.fd

    def __repr__(self):
        return f"<IndexFd {self.fd}>"


class IntFd:
    """Has only ``__int__``, which may return anything or raise."""

    def __init__(self, value):
        self.value = value

    def __int__(self):
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value

    def __repr__(self):
        return f"<IntFd {self.value!r}>"


class BadRepr(FilenoObj):
    """fileno() fails and so does repr(): the repr error is what the message build raises."""

    def __repr__(self):
        raise ZeroDivisionError("repr failed")


class NotCallableFileno:
    fileno = 5

    def __repr__(self):
        return "<NotCallableFileno>"


class RaisingEq(FilenoObj):
    """Equality raises: the by-identity search must never compare with ==."""

    def __eq__(self, other):
        raise AssertionError("compared with ==")

    __hash__ = object.__hash__


class Flag(enum.IntFlag):
    R = 1
    W = 2
    X = 4


class Mask:
    """A user type that behaves like an int mask through & and truth."""

    def __init__(self, value):
        self.value = value

    def __and__(self, other):
        return self.value & int(other)

    __rand__ = __and__

    def __bool__(self):
        return bool(self.value)

    def __eq__(self, other):
        return self.value == other

    def __ne__(self, other):
        return self.value != other

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<Mask {self.value}>"


class TruthRaises:
    def __bool__(self):
        raise ArithmeticError("no truth")

    def __repr__(self):
        return "<TruthRaises>"


class AndRaises:
    def __bool__(self):
        return True

    def __and__(self, other):
        raise LookupError("no and")

    def __repr__(self):
        return "<AndRaises>"


class LeRaises:
    def __le__(self, other):
        raise ArithmeticError("no <=")

    __lt__ = __gt__ = __ge__ = __le__

    def __repr__(self):
        return "<LeRaises>"


def _closed_fd():
    """An fd number that was just open and is closed now (inside the fd table)."""
    r, w = os.pipe()
    os.close(w)
    os.close(r)
    return r


def _never_opened_fd():
    """An fd number beyond every fd this process has opened."""
    fd = 4000
    while True:
        try:
            os.fstat(fd)
        except OSError:
            return fd
        fd += 1


class World:
    """Sockets and files shared by our selector and the stdlib one."""

    def __init__(self):
        self.closers = []
        # registered in both selectors
        self.r1, self.w1 = self.pair()
        self.w1.send(b"x")  # r1 readable
        self.r2, self.w2 = self.pair()  # w2 writable, watched for WRITE
        self.r3, self.w3 = self.pair()  # r3 watched for both, writable only
        self.data = {"a": object(), "b": "bee", "c": [1, 2]}
        # never registered up front
        self.spare = [self.pair()[0] for _ in range(3)]
        self.closed_sock, _ = self.pair()
        self.closed_sock.close()
        self.tmp = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.closers.append(self.tmp)

    def fresh_fd_numbers(self):
        """Call after every selector of the test exists: their own fds are taken by then."""
        self.closed_fd = _closed_fd()
        self.never_fd = _never_opened_fd()

    def pair(self):
        a, b = socketpair()
        self.closers += [a, b]
        return a, b

    def populate(self, sel):
        sel.register(self.r1, EVENT_READ, self.data["a"])
        sel.register(self.w2, EVENT_WRITE, self.data["b"])
        sel.register(self.r3, EVENT_BOTH, self.data["c"])

    def close(self):
        for c in self.closers:
            c.close()


@pytest.fixture
def world():
    w = World()
    yield w
    w.close()


@pytest.fixture
def pair(selector_class, world):
    """(ours, stdlib's) selectors of the same kind with the same registrations."""
    ours = selector_class()
    theirs = stdlib_class(selector_class)()
    world.populate(ours)
    world.populate(theirs)
    world.fresh_fd_numbers()
    yield ours, theirs
    ours.close()
    theirs.close()


# --- the bad fileobjs --------------------------------------------------------------------------

FILEOBJ_CASES = {
    # ints
    "neg1": lambda w: -1,
    "neg_int_min": lambda w: -(2**31),
    "neg_2**100": lambda w: -(2**100),
    "2**31": lambda w: 2**31,
    "2**63": lambda w: 2**63,
    "2**100": lambda w: 2**100,
    "closed_fd": lambda w: w.closed_fd,
    "never_opened_fd": lambda w: w.never_fd,
    "regular_file_fd": lambda w: w.tmp.fileno(),
    "regular_file": lambda w: w.tmp,
    "True": lambda w: True,
    "False": lambda w: False,
    # fileno() raises
    "fileno_OSError": lambda w: FilenoObj(OSError(errno.EBADF, "Bad file descriptor")),
    "fileno_ValueError": lambda w: FilenoObj(ValueError("closed file")),
    "fileno_TypeError": lambda w: FilenoObj(TypeError("bad type")),
    "fileno_AttributeError": lambda w: FilenoObj(AttributeError("no")),
    "fileno_KeyboardInterrupt": lambda w: FilenoObj(KeyboardInterrupt()),
    "fileno_BaseException_subclass": lambda w: FilenoObj(Abort("abort")),
    "fileno_RecursionError": lambda w: FilenoObj(RecursionError("deep")),
    "fileno_SystemExit": lambda w: FilenoObj(SystemExit(3)),
    "fileno_MemoryError": lambda w: FilenoObj(MemoryError()),
    "fileno_StopIteration": lambda w: FilenoObj(StopIteration(7)),
    "fileno_OverflowError": lambda w: FilenoObj(OverflowError("big")),
    # fileno() returns junk
    "fileno_None": lambda w: FilenoObj(None),
    "fileno_neg1": lambda w: FilenoObj(-1),
    "fileno_neg_2**100": lambda w: FilenoObj(-(2**100)),
    "fileno_str_spare": lambda w: FilenoObj(str(w.spare[0].fileno())),
    "fileno_str_registered": lambda w: FilenoObj(str(w.r1.fileno())),
    "fileno_str_junk": lambda w: FilenoObj("3x"),
    "fileno_bytes": lambda w: FilenoObj(b"\xff"),
    "fileno_float": lambda w: FilenoObj(w.spare[0].fileno() + 0.7),
    "fileno_nan": lambda w: FilenoObj(float("nan")),
    "fileno_inf": lambda w: FilenoObj(float("inf")),
    "fileno_True": lambda w: FilenoObj(True),
    "fileno_2**40": lambda w: FilenoObj(2**40),
    "fileno_2**100": lambda w: FilenoObj(2**100),
    "fileno_index": lambda w: FilenoObj(IndexFd(w.spare[0].fileno())),
    "fileno_int": lambda w: FilenoObj(IntFd(w.spare[0].fileno())),
    "fileno_int_huge": lambda w: FilenoObj(IntFd(2**64)),
    "fileno_int_returns_str": lambda w: FilenoObj(IntFd("3")),
    "fileno_int_raises_Overflow": lambda w: FilenoObj(IntFd(OverflowError("int() failed"))),
    "fileno_int_raises_Abort": lambda w: FilenoObj(IntFd(Abort("int() aborted"))),
    "fileno_complex": lambda w: FilenoObj(1j),
    "fileno_registered_fd": lambda w: FilenoObj(w.r1.fileno()),
    # not file objects at all
    "None": lambda w: None,
    "str": lambda w: "abc",
    "bytes": lambda w: b"3",
    "float": lambda w: 1.5,
    "object": lambda w: object(),
    "list": lambda w: [],
    "type_int": lambda w: int,
    "Decimal": lambda w: Decimal(w.spare[0].fileno()),
    "not_callable_fileno": lambda w: NotCallableFileno(),
    "closed_socket": lambda w: w.closed_sock,
    "bad_repr_ValueError": lambda w: BadRepr(ValueError),
    "bad_repr_fd": lambda w: BadRepr(w.spare[0].fileno()),
    "raising_eq": lambda w: RaisingEq(ValueError),
}
FILEOBJ_IDS = list(FILEOBJ_CASES)
#: The cases that put a regular file into select()'s sets (needs_pipes: not on Windows).
FILE_IN_SELECT = ("regular_file_fd", "regular_file")


def fileobj_case(w, case):
    return FILEOBJ_CASES[case](w)


def _calls_on_fileobj(x):
    """Every public method taking a file object; register last but one so that a success
    changes the state for unregister (same on both sides)."""
    return [
        ("get_key", lambda s: s.get_key(x)),
        ("map[x]", lambda s: s.get_map()[x]),
        ("map.get(x)", lambda s: s.get_map().get(x)),
        ("map.get(x, d)", lambda s: s.get_map().get(x, "default")),
        ("x in map", lambda s: x in s.get_map()),
        ("modify", lambda s: s.modify(x, EVENT_WRITE, "m")),
        ("register", lambda s: s.register(x, EVENT_READ, "r")),
        ("register_again", lambda s: s.register(x, EVENT_WRITE)),
        ("modify_after", lambda s: s.modify(x, EVENT_WRITE, "m2")),
        ("unregister", lambda s: s.unregister(x)),
        ("unregister_again", lambda s: s.unregister(x)),
    ]


def _ours_differs(selector_class, name, x, theirs):
    """The outcome we must give where we deliberately differ from the stdlib, else None."""
    if IS_STDLIB:
        return None
    if (
        isinstance(x, BadRepr)
        and isinstance(x.value, int)
        and name.startswith(("map.get", "x in map"))
        and theirs == ("raise", ZeroDivisionError, ("repr failed",))
    ):
        # The stdlib's Mapping.get/__contains__ go through __getitem__, which formats
        # repr(fileobj) into the KeyError it then catches: a raising __repr__ escapes. Ours
        # never formats a message it would discard.
        return ("ok", False if name == "x in map" else ("default" if "d)" in name else None))
    if kind(selector_class) != "SelectSelector" or theirs[0] != "ok":
        return None
    if name.startswith("register") and isinstance(x, int) and x > INT_MAX:
        return ("raise", OverflowError, ("Python int too large to convert to C int",))
    if name.startswith("register") and isinstance(x, FilenoObj):
        try:
            n = int(x.fileno())
        except BaseException:  # noqa: BLE001 - not a number: no difference
            return None
        if n > INT_MAX:
            return ("raise", OverflowError, ("Python int too large to convert to C int",))
    return None


def _check_no_kernel_leftovers(w, ours, theirs, label):
    """Spare sockets and the regular file register the same on both selectors (a kernel
    registration left behind by a failed call would make epoll say EEXIST). Not the file on
    Windows, whose select() takes sockets only (and under Wine fails a file's number with an
    error that depends on where it stands in the sets)."""
    for obj in [*w.spare] + ([] if WINDOWS else [w.tmp]):
        o = norm_outcome(outcome(ours.register, obj, EVENT_READ))
        t = norm_outcome(outcome(theirs.register, obj, EVENT_READ))
        assert o == t, (label, obj)
    assert snapshot(ours) == snapshot(theirs), label


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=[needs_pipes] if c in FILE_IN_SELECT else []) for c in FILEOBJ_IDS]
)
def test_bad_fileobj_every_method(pair, world, selector_class, case):
    ours, theirs = pair
    x = fileobj_case(world, case)
    for name, call in _calls_on_fileobj(x):
        before = snapshot(ours)
        assert before == snapshot(theirs), (case, name, "diverged before the call")
        t = outcome(call, theirs)
        o = outcome(call, ours)
        expected = _ours_differs(selector_class, name, x, t)
        if expected is not None:
            assert o == expected, (case, name, o)
            if t[0] == "ok":  # stdlib registered it; undo so the states compare again
                theirs.unregister(x)
            continue
        assert norm_outcome(o) == norm_outcome(t), (case, name)
        after = snapshot(ours)
        assert after == snapshot(theirs), (case, name)
        if o[0] == "raise":
            assert after == before, (case, name, "a failed call changed the selector")
    _check_no_kernel_leftovers(world, ours, theirs, case)


# --- events -------------------------------------------------------------------------------------

EVENTS_CASES = {
    "0": 0,
    "neg1": -1,
    "4": 4,
    "8": 8,
    "2**100": 2**100,
    "neg_2**100": -(2**100),
    "float_1.0": 1.0,
    "float_1.5": 1.5,
    "nan": float("nan"),
    "True": True,
    "False": False,
    "None": None,
    "IntFlag_R": Flag.R,
    "IntFlag_RW": Flag.R | Flag.W,
    "IntFlag_X": Flag.X,
    "IntFlag_0": Flag(0),
    "str": "1",
    "bytes": b"\x01",
    "list": [1],
    "object": object(),
    "Decimal": Decimal(1),
    "Fraction": Fraction(1),
    "complex": 1j,
    "Mask_1": Mask(1),
    "Mask_3": Mask(3),
    "Mask_4": Mask(4),
    "Mask_0": Mask(0),
    "truth_raises": TruthRaises(),
    "and_raises": AndRaises(),
}


def _register_error(events):
    """What the stdlib's register() raises for these events (None if valid), computed with
    its own expression."""
    try:
        if (not events) or (events & ~(EVENT_READ | EVENT_WRITE)):
            return ("raise", ValueError, (f"Invalid events: {events!r}",))
    except BaseException as exc:  # noqa: BLE001
        return ("raise", type(exc), exc.args)
    return None


@pytest.mark.parametrize("case", list(EVENTS_CASES))
def test_bad_events_register(pair, world, case):
    ours, theirs = pair
    events = EVENTS_CASES[case]
    spare = world.spare[0]
    for target, label in ((spare, "spare"), (world.r1, "registered"), (world.closed_sock,
                                                                        "closed socket")):
        before = snapshot(ours)
        t = outcome(theirs.register, target, events, "d")
        o = outcome(ours.register, target, events, "d")
        assert norm_outcome(o) == norm_outcome(t), (case, label)
        after = snapshot(ours)
        assert after == snapshot(theirs), (case, label)
        if o[0] == "raise":
            assert after == before, (case, label)
        else:
            assert o[1].events is events  # the very object, as the stdlib keeps it
    _check_no_kernel_leftovers(world, ours, theirs, case)


def _ready_fds(sel):
    return sorted((key.fd, int(events)) for key, events in sel.select(0))


_BREAKS_STDLIB_SELECT = fixes_stdlib(
    "modify() to events equal to key.events but not an int (1.0, Decimal(1), Fraction(1)): "
    "the stdlib stores them in the key and its select() then raises TypeError on `&`; ours "
    "masks with the registered bits"
)


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=[_BREAKS_STDLIB_SELECT] if c in ("float_1.0", "Decimal", "Fraction")
                 else [])
    for c in EVENTS_CASES
])
def test_bad_events_modify(pair, world, selector_class, case):
    """modify(): the same outcome as the stdlib for valid events; for invalid ones (events
    != key.events), the error register() gives and nothing changed (our fix on every
    backend)."""
    ours, theirs = pair
    events = EVENTS_CASES[case]
    for target in (world.r1, world.w2, world.r3):
        before = snapshot(ours)
        ready_before = _ready_fds(ours)
        key = ours.get_key(target)
        try:
            same = events == key.events
        except BaseException:  # noqa: BLE001
            same = False
        invalid = _register_error(events)
        if same and not isinstance(events, int) and not IS_STDLIB:
            # events == key.events: no validation, the key takes the new events object. The
            # stdlib's select() then computes `events & key.events` in Python and raises
            # TypeError for a float/Decimal/Fraction forever after; ours masks with the
            # registered bits and keeps working.
            t = outcome(theirs.modify, target, events, "new")
            o = outcome(ours.modify, target, events, "new")
            assert norm_outcome(o) == norm_outcome(t), case
            assert snapshot(ours)[:2] == snapshot(theirs)[:2], case
            assert _ready_fds(ours) == ready_before, case
            for s in (theirs, ours):  # back to int events on both
                s.unregister(target)
                s.register(target, key.events, key.data)
            continue
        if invalid is not None and not same and not IS_STDLIB:
            o = outcome(ours.modify, target, events, "new")
            if isinstance(events, (TruthRaises, AndRaises)):
                assert o[0] == "raise" and o[1] is invalid[1], (case, o)
            else:
                assert o == invalid, (case, o)
            assert snapshot(ours) == before, case
            assert ours.get_key(target) is key
            continue
        t = outcome(theirs.modify, target, events, "new")
        o = outcome(ours.modify, target, events, "new")
        assert norm_outcome(o) == norm_outcome(t), case
        assert snapshot(ours) == snapshot(theirs), case
    _check_no_kernel_leftovers(world, ours, theirs, case)


# --- timeouts -----------------------------------------------------------------------------------

TIMEOUT_CASES = {
    "nan": float("nan"),
    "neg_nan": -float("nan"),
    "inf": float("inf"),
    "neg_inf": float("-inf"),
    "neg1": -1,
    "neg_2**100": -(2**100),
    "neg_1e300": -1e300,
    "1e300": 1e300,
    "2**100": 2**100,
    "2**63": 2**63,
    "denormal": 5e-324,
    "True": True,
    "False": False,
    "str": "1",
    "bytes": b"1",
    "list": [],
    "object": object(),
    "complex": 1j,
    "Decimal_nan": Decimal("nan"),
    "Decimal_small": Decimal("0.001"),
    "Decimal_neg": Decimal("-0.5"),
    "Fraction_third": Fraction(1, 3),
    "Fraction_tiny": Fraction(1, 10**30),
    "Fraction_neg": Fraction(-1, 3),
    "le_raises": LeRaises(),
    "IntFlag": Flag.R,
}


@pytest.mark.parametrize("case", list(TIMEOUT_CASES))
def test_bad_timeout_select(pair, world, case):
    """Every accepted timeout returns at once (something is ready); every refused one raises
    the stdlib's exception; the selector is unchanged either way."""
    ours, theirs = pair
    timeout = TIMEOUT_CASES[case]
    before = snapshot(ours)
    t = outcome(theirs.select, timeout)
    o = outcome(ours.select, timeout)
    if t[0] == "ok":
        assert o[0] == "ok", (case, o)
        assert sorted(norm(p) for p in o[1]) == sorted(norm(p) for p in t[1]), case
    else:
        assert o == t, case
    assert snapshot(ours) == before == snapshot(theirs), case
    o = outcome(ours.select, timeout=timeout)
    if t[0] == "ok":
        assert o[0] == "ok", (case, o)
    else:
        assert o == t, case


# --- arity and keywords: the type only --------------------------------------------------------

ARITY_CALLS = {
    "register()": lambda s: s.register(),
    "register(x)": lambda s: s.register(0),
    "register(4 args)": lambda s: s.register(0, 1, 2, 3),
    "register(kw)": lambda s: s.register(0, 1, bogus=2),
    "unregister()": lambda s: s.unregister(),
    "unregister(2 args)": lambda s: s.unregister(0, 1),
    "modify()": lambda s: s.modify(),
    "modify(x)": lambda s: s.modify(0),
    "select(2 args)": lambda s: s.select(0, 1),
    "select(kw)": lambda s: s.select(t=0),
    "get_key()": lambda s: s.get_key(),
    "close(1)": lambda s: s.close(1),
    "get_map(1)": lambda s: s.get_map(1),
    "map.get()": lambda s: s.get_map().get(),
    "map.get(3 args)": lambda s: s.get_map().get(1, 2, 3),
}


@pytest.mark.parametrize("case", list(ARITY_CALLS))
def test_wrong_arity(pair, case):
    ours, theirs = pair
    before = snapshot(ours)
    t = outcome(ARITY_CALLS[case], theirs)
    o = outcome(ARITY_CALLS[case], ours)
    assert t[0] == "raise" and t[1] is TypeError
    assert o[0] == "raise" and o[1] is TypeError, o
    assert snapshot(ours) == before


def test_fileno_arity(selector_class):
    ours = selector_class()
    theirs = stdlib_class(selector_class)()
    try:
        if hasattr(theirs, "fileno"):
            assert outcome(ours.fileno, 1)[1] is outcome(theirs.fileno, 1)[1] is TypeError
        else:
            assert not hasattr(ours, "fileno")
    finally:
        ours.close()
        theirs.close()


# --- closed selectors ---------------------------------------------------------------------------

def _closed_expectation(selector_class, name, t):
    """Ours on a closed selector: the stdlib's outcome, except where the stdlib would use a
    poll/select object it keeps after close (our fix: RuntimeError)."""
    if IS_STDLIB or kind(selector_class) not in ("PollSelector", "SelectSelector"):
        return t
    if name.startswith(("register", "select")) and t[0] == "ok":
        return ("raise", RuntimeError, ("Selector is closed",))
    return t


@pytest.mark.parametrize("case", ["valid", *FILEOBJ_IDS[:12], "fileno_OSError",
                                  "fileno_BaseException_subclass", "object", "closed_socket"])
def test_closed_selector_every_method(pair, world, selector_class, case):
    ours, theirs = pair
    x = world.r1 if case == "valid" else fileobj_case(world, case)
    ours.close()
    theirs.close()
    calls = _calls_on_fileobj(x)[:1] + [
        ("register", lambda s: s.register(x, EVENT_READ)),
        ("register_bad_events", lambda s: s.register(x, 0)),
        ("modify", lambda s: s.modify(x, EVENT_WRITE)),
        ("unregister", lambda s: s.unregister(x)),
        ("select0", lambda s: s.select(0)),
        ("select_nan", lambda s: s.select(float("nan"))),
        ("select_str", lambda s: s.select("1")),
        ("get_map", lambda s: s.get_map()),
        ("close", lambda s: s.close()),
    ]
    if hasattr(theirs, "fileno"):
        calls.append(("fileno", lambda s: s.fileno()))
    for name, call in calls:
        t = outcome(call, theirs)
        o = outcome(call, ours)
        if name.startswith("register") and _ours_differs(selector_class, name, x, t):
            expected = _ours_differs(selector_class, name, x, t)
        else:
            expected = _closed_expectation(selector_class, name, t)
        assert norm_outcome(o) == norm_outcome(expected), (case, name)
        if expected is not t and t[0] == "ok" and name.startswith("register"):
            theirs.unregister(x)  # the stdlib registered it on its closed selector: undo
        assert ours.get_map() is None
    # a closed selector stays closed and quiet
    assert ours.get_map() is None
    assert outcome(ours.get_key, world.r1)[1] is RuntimeError


# --- regular files: epoll refuses them, nothing left behind -----------------------------------

@needs_pipes
@pytest.mark.parametrize("how", ["fd", "file", "fileno_obj"])
def test_regular_file_refused_without_leftovers(pair, world, selector_class, how):
    ours, theirs = pair
    f = world.tmp
    x = {"fd": f.fileno(), "file": f, "fileno_obj": FilenoObj(f.fileno())}[how]
    before = snapshot(ours)
    for _ in range(3):  # a leftover would turn the second attempt into KeyError/EEXIST
        t = outcome(theirs.register, x, EVENT_READ, "data")
        o = outcome(ours.register, x, EVENT_READ, "data")
        assert norm_outcome(o) == norm_outcome(t)
        if kind(selector_class) == "EpollSelector":
            assert o[0] == "raise" and o[1] is PermissionError and o[2][0] == errno.EPERM
            assert snapshot(ours) == before
            assert f.fileno() not in ours.get_map()
            assert outcome(ours.get_key, x)[1] is KeyError
            assert outcome(ours.unregister, x)[1] is KeyError
        else:
            assert snapshot(ours) == snapshot(theirs)
            ours.unregister(x)
            theirs.unregister(x)
    # both backends still usable for real sockets afterwards
    _check_no_kernel_leftovers(world, ours, theirs, how)


def test_names_cover_every_class():
    assert set(CLASS_NAMES) >= ({"SelectSelector"} if WINDOWS else {"PollSelector", "SelectSelector"})
