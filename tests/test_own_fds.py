"""The selector's own fds are out of the caller's reach (an rselectors promise).

An rselectors selector can own fds the stdlib's do not: its wake-up notifier (an eventfd on
Linux) and its sub-millisecond timer (a timerfd on Linux) besides the kernel object. Idle, it
holds what the stdlib's holds (the kernel object, or nothing); each of the others is made at
its first need (a ``wakeup()`` or ``close()`` while a thread waits; a blocking wait on the
poll and select backends; a wait shorter than a millisecond) and kept until ``close()``. A
registered fd closed before ``unregister`` (the stdlib tolerates that order) frees its
number, which an own fd made later may take; if an ``unregister`` or ``modify`` of the stale
object reached it, it would remove or retoken *our* fd, switching off ``wakeup()`` (and with
it ``close()`` from another thread and asyncio's ``call_soon_threadsafe``), or report our
readiness under the caller's key. Defined here: our fds are never registered, modified,
unregistered or reported through a caller's name, on every backend; naming one of their
numbers gets the kernel's closed-fd answer (``EBADF``; ``EINVAL`` for the epoll object
itself, as the stdlib gets), and they keep working.
"""

import errno
import os
import sys
import threading
import time

import pytest
from _support import (
    EVENT_READ,
    EVENT_WRITE,
    IS_STDLIB,
    REINSERTING,
    Child,
    kind,
    open_fds,
    stdlib_class,
)

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="the stdlib's selectors own no wake-up fd"),
    pytest.mark.skipif(
        sys.platform == "win32" or not os.path.isdir("/proc/self/fd"),
        reason="finds the selector's own fds in /proc/self/fd",
    ),
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]

#: Generous bound for "promptly": only a lost wake-up takes this long.
PROMPT = 2.0


def new_selector_and_own_fds(selector_class):
    """A new selector and the fd numbers it opened once brought to its every need (a
    wake-up while a thread waits, a wait shorter than a millisecond): its own fds."""
    before = open_fds()
    sel = selector_class()
    meet_needs(sel)
    own = sorted(int(fd) for fd in open_fds() - before)
    return sel, own


def meet_needs(sel):
    """What makes a selector's own fds: a wakeup() while a thread waits in select() (the
    notifier), and a wait shorter than a millisecond (the timer, on Linux)."""
    assert_wakeup_wakes(sel)
    sel.select(0.0001)


class Named:
    """A file object whose fileno() is a given number (a stale wrapper, say)."""

    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd


def assert_wakeup_wakes(sel, timeout=10):
    """A wakeup() from another thread ends a blocked select() promptly, and nothing of
    ours shows up in the result."""
    timer = threading.Timer(0.05, sel.wakeup)
    timer.start()
    try:
        t0 = time.monotonic()
        result = sel.select(timeout)
        waited = time.monotonic() - t0
    finally:
        timer.cancel()
    assert waited < PROMPT, f"wake-up lost: select waited {waited:.2f}s"
    return result


def assert_close_wakes(sel):
    """close() from another thread ends a blocked select() promptly."""
    timer = threading.Timer(0.05, sel.close)
    timer.start()
    try:
        t0 = time.monotonic()
        try:
            sel.select(10)
        except (OSError, ValueError, RuntimeError):
            pass
        waited = time.monotonic() - t0
    finally:
        timer.cancel()
    assert waited < PROMPT, f"close() did not wake select: waited {waited:.2f}s"


def test_an_idle_selector_holds_what_the_stdlibs_holds(selector_class):
    """Made, used without a blocking wait and closed, a selector opens what the stdlib's of
    the same kind opens: its kernel object (epoll, kqueue, /dev/poll), or nothing (poll,
    select). Counted over many at once, against the stdlib's in the same process."""

    def opened(cls, n=20):
        before = open_fds()
        sels = [cls() for _ in range(n)]
        for s in sels:
            s.select(0)
            s.wakeup() if hasattr(s, "wakeup") else None
            s.select(0)
        count = len(open_fds() - before)
        for s in sels:
            s.close()
        assert open_fds() == before, "close() leaves nothing open"
        return count

    ours, theirs = opened(selector_class), opened(stdlib_class(selector_class))
    print(f"\n[own fds] 20 idle {kind(selector_class)}: {ours} fds, the stdlib's: {theirs}")
    assert ours == theirs == 20 * hasattr(selector_class, "fileno")


def test_a_wait_on_a_ready_fd_makes_no_own_fd(selector_class, socketpair):
    """A wait that may block on an fd that is ready already, or after a wakeup(), ends on
    the look without blocking it starts with: a fresh selector reports the key (or nothing,
    for the wake-up) at once and opens what an idle one opens (poll, select: nothing)."""
    a, b = socketpair()
    b.send(b"x")
    before = open_fds()
    sels = [selector_class() for _ in range(10)]
    for s in sels:
        key = s.register(a, EVENT_READ, "data")
        t0 = time.monotonic()
        assert s.select(10) == [(key, EVENT_READ)]
        s.unregister(a)
        s.wakeup()
        assert s.select(10) == []
        assert time.monotonic() - t0 < PROMPT
    count = len(open_fds() - before)
    for s in sels:
        s.close()
    assert count == 10 * hasattr(selector_class, "fileno")


def test_own_fds_are_the_kernel_object_the_notifier_and_the_timer(selector_class):
    """Once every need was met: the notifier, the kernel object (epoll, kqueue, /dev/poll)
    and, on Linux, the timer that makes sub-millisecond waits precise."""
    sel, own = new_selector_and_own_fds(selector_class)
    try:
        has_kernel_object = hasattr(sel, "fileno")
        expected = 1 + has_kernel_object + sys.platform.startswith("linux")
        assert len(own) == expected, own
        if has_kernel_object:
            assert sel.fileno() in own
        assert sel.get_map() is not None and len(sel.get_map()) == 0
    finally:
        sel.close()
    assert not (set(map(str, own)) & open_fds()), "close() leaves none of them open"


@pytest.mark.parametrize("as_object", [False, True], ids=["int", "fileobj"])
def test_naming_an_own_fd_is_refused_and_it_keeps_working(selector_class, as_object):
    sel, own = new_selector_and_own_fds(selector_class)
    try:
        for n in own:
            target = Named(n) if as_object else n
            code = errno.EINVAL if kind(selector_class) == "EpollSelector" \
                and n == sel.fileno() else errno.EBADF
            with pytest.raises(OSError) as info:
                sel.register(target, EVENT_READ)
            assert info.value.errno == code, (n, info.value)
            assert len(sel.get_map()) == 0  # nothing registered
            with pytest.raises(KeyError):
                sel.unregister(target)
            with pytest.raises(KeyError):
                sel.modify(target, EVENT_WRITE)
        assert assert_wakeup_wakes(sel) == []
        assert_close_wakes(sel)
    finally:
        sel.close()


def registered(sel, fileobj):
    """Whether ``fileobj`` has a key (found by identity: a closed socket has no fd)."""
    return any(key.fileobj is fileobj for key in sel.get_map().values())


def closed_registrations(sel, socketpair, n):
    """Registers one end of ``n`` fresh pairs (data "a0", "a1", ...), closes them (no
    unregister) and returns them: their fd numbers are free for the next fds opened."""
    pairs = [socketpair() for _ in range(n)]
    for i, (a, b) in enumerate(pairs):
        sel.register(a, EVENT_READ, f"a{i}")
        b.send(b"x")
    for a, _ in pairs:
        a.close()
    return [a for a, _ in pairs]


def closed_registration(sel, socketpair):
    """One registered socket, closed before unregister (see closed_registrations)."""
    return closed_registrations(sel, socketpair, 1)[0]


def test_the_issue_sequence(selector_class, socketpair):
    """The reported sequence: a registered socket closed before unregister, a wakeup and a
    select, the stale unregister, then a wake-up from another thread must end a select."""
    sel = selector_class()
    try:
        a = closed_registration(sel, socketpair)
        sel.wakeup()
        try:
            sel.select(0)
        except OSError as exc:  # select(2) refuses a closed fd in its sets, as the stdlib's
            assert kind(selector_class) == "SelectSelector" and exc.errno == errno.EBADF
        sel.unregister(a)  # quiet, as in the stdlib
        assert assert_wakeup_wakes(sel) == []
        assert_close_wakes(sel)
    finally:
        sel.close()


def test_stale_modify_never_reaches_an_own_fd(selector_class, socketpair):
    """modify() of a closed registered socket gets the stdlib's answer for a closed fd and
    never changes our notifier: wake-ups keep working and nothing but the caller's own
    stale key is ever reported."""
    sel = selector_class()
    try:
        a = closed_registration(sel, socketpair)
        name = kind(selector_class)
        if name == "EpollSelector":  # EBADF, and the registration removed (bpo-30014)
            with pytest.raises(OSError) as info:
                sel.modify(a, EVENT_WRITE, "a2")
            assert info.value.errno == errno.EBADF
            assert not registered(sel, a)
        elif name == "SelectSelector":  # its register() step finds no fd (kept, see README)
            with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
                sel.modify(a, EVENT_WRITE, "a2")
        else:  # poll accepts it, and reports the closed fd as an error (READ|WRITE)
            sel.modify(a, EVENT_WRITE, "a2")
            assert [(k.data, ev) for k, ev in sel.select(0)] == [("a2", EVENT_WRITE)]
        if registered(sel, a):
            sel.unregister(a)
        assert assert_wakeup_wakes(sel) == []
        assert_close_wakes(sel)
    finally:
        sel.close()


def lowest_free_is(n):
    """Makes ``n`` the lowest free fd number: every free number below it is taken by a
    duplicate of /dev/null; returns them, for the caller to close."""
    fillers = []
    while True:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd >= n:
            os.close(fd)
            assert fd == n, f"{n} was not free"
            return fillers
        fillers.append(fd)


def stale_key_story(cls, socketpair, need):
    """A registered socket closed before unregister; the selector's first ``need`` (made
    while the closed socket's number is the lowest free one); then the stale key's modify,
    unregister and a select. Returns what each step gave, and whether an own fd of the
    selector took the stale number."""

    def step(func, *args):
        try:
            result = func(*args)
        except (OSError, ValueError) as exc:
            return type(exc).__name__, getattr(exc, "errno", None)
        if isinstance(result, list):
            return sorted((key.data, events) for key, events in result)
        return "ok"

    sel = cls()
    try:
        live, peer = socketpair()
        sel.register(live, EVENT_READ, "live")
        if need == "short wait" and hasattr(sel, "wakeup"):
            assert_wakeup_wakes(sel)  # the notifier first, on another number
        a = closed_registration(sel, socketpair)
        stale = next(key.fd for key in sel.get_map().values() if key.data == "a0")
        fillers = lowest_free_is(stale)
        before = open_fds()
        try:
            if need == "wakeup while waiting":
                if hasattr(sel, "wakeup"):
                    threading.Timer(0.05, sel.wakeup).start()
                story = {"need": step(sel.select, 0.2)}
            else:
                story = {"need": step(sel.select, 0.0001)}
        finally:
            for fd in fillers:
                os.close(fd)
        took = str(stale) in open_fds() - before
        story["modify"] = step(sel.modify, a, EVENT_WRITE, "a2")
        if registered(sel, a):
            unregistered = step(sel.unregister, a)
            # SelectSelector and KqueueSelector keep a registration whose modify failed
            # (README: "a failed call loses nothing"); the stdlib's have dropped it.
            if cls.__name__ not in REINSERTING:
                story["unregister"] = unregistered
        peer.send(b"x")
        story["select"] = step(sel.select, 0)
        return story, took
    finally:
        sel.close()


@pytest.mark.parametrize("need", ["wakeup while waiting", "short wait"])
def test_an_own_fd_made_late_never_answers_to_a_stale_key(selector_class, socketpair, need):
    """The lazy case, against the stdlib: a registered socket closed before unregister, then
    the first need makes an own fd, which the kernel hands the lowest free number, the stale
    key's. On epoll it takes it (the kernel dropped the closed socket's registration); the
    other backends skip a number a registration names. Either way the stale key's modify,
    unregister and selects give exactly what they give on the stdlib's selector, which owns
    no such fd: never our readiness, never our fd changed."""
    theirs, _ = stale_key_story(stdlib_class(selector_class), socketpair, need)
    ours, took = stale_key_story(selector_class, socketpair, need)
    print(f"\n[own fds] {kind(selector_class)}, {need}: took the stale number: {took}; {ours}")
    assert ours == theirs
    assert took == (kind(selector_class) == "EpollSelector")


def test_own_fd_numbers_never_change(socketpair):
    """A stale epoll registration (a dup'ed fd closed without unregister) makes the selector
    rebuild its kernel set: under the same numbers, so no stale key can come to name them,
    and wake-ups keep working. (poll and select report a closed fd as such: no rebuild.)"""
    import rselectors

    sel, own = new_selector_and_own_fds(rselectors.EpollSelector)
    try:
        a, b = socketpair()
        sel.register(a, EVENT_READ, "a")
        dup = os.dup(a.fileno())
        try:
            b.send(b"x")
            a.close()
            sel.unregister(a)  # quiet; its open file stays in the epoll set through `dup`
            epoll_fd = sel.fileno()
            for _ in range(5):
                assert sel.select(0) == []  # stale: never reported, and rebuilt away
            assert set(own) <= {int(fd) for fd in open_fds()}
            assert sel.fileno() == epoll_fd
            assert assert_wakeup_wakes(sel) == []
        finally:
            os.close(dup)
    finally:
        sel.close()


def test_forked_child_with_stale_registrations(selector_class, socketpair):
    """In a forked child the selector makes new kernel objects of its own, whose numbers
    are those of closed registrations (the lowest free ones): the stale keys never reach
    them. Two stale keys, so that the notifier takes one's number even where the kernel
    object takes the other."""
    sel = selector_class()
    try:
        live, peer = socketpair()
        sel.register(live, EVENT_READ, "live")
        stale = closed_registrations(sel, socketpair, 2)
        stale_fds = [key.fd for key in sel.get_map().values() if key.data != "live"]

        # Hold the stale numbers while the child is forked (its report pipe must not take
        # them); the child frees them and occupies every other free number below them, so
        # that its new fds take exactly the stale numbers.
        opened = os.open(os.devnull, os.O_RDONLY)
        import fcntl

        devnull = fcntl.fcntl(opened, fcntl.F_DUPFD, max(stale_fds) + 1)
        os.close(opened)
        for n in stale_fds:
            os.dup2(devnull, n)

        def woken(sel):
            """The data of the keys a wake-up's select reports (select(2) refuses a
            closed fd in its sets, as the stdlib's: EBADF while a stale key is left)."""
            try:
                return sorted(key.data for key, _ in assert_wakeup_wakes(sel))
            except OSError as exc:
                assert kind(selector_class) == "SelectSelector" and exc.errno == errno.EBADF
                return ["EBADF"]

        def child():
            for n in stale_fds:
                os.close(n)
            busy = {int(fd) for fd in open_fds()}
            for n in range(max(stale_fds)):
                if n not in busy and n not in stale_fds:
                    os.dup2(devnull, n)
            before = open_fds()
            try:
                sel.select(0)  # makes the child's own kernel object
            except OSError as exc:
                assert exc.errno == errno.EBADF  # SelectSelector and a closed fd, as stdlib
            # before anything names a stale key: a wake-up reports nothing under them (and
            # on epoll makes the notifier, while the select waits: the stale keys' kernel
            # registrations went with their fds; poll's and select's waits end at once on
            # the stale keys, so they need none)
            woken_before = woken(sel)
            own = sorted(int(fd) for fd in open_fds() - before)
            outcome = {"own": own, "took": sorted(set(own) & set(stale_fds))}
            outcome["woken_before"] = woken_before
            outcome["modify"] = []
            for a in stale:
                try:
                    sel.modify(a, EVENT_WRITE)
                    outcome["modify"].append("ok")
                except (OSError, ValueError) as exc:
                    outcome["modify"].append(repr(exc))
                if registered(sel, a):
                    sel.unregister(a)
                outcome.setdefault("woken", []).append(woken(sel))
            peer.send(b"x")
            outcome["live"] = [key.data for key, _ in sel.select(PROMPT)]
            assert_close_wakes(sel)
            return outcome

        try:
            forked = Child(child)
        finally:
            for n in stale_fds + [devnull]:
                os.close(n)
        outcome = forked.result()
        print(f"\n[own fds] forked child ({kind(selector_class)}): {outcome}")
        assert outcome["took"] == sorted(stale_fds[:len(outcome["own"])]), outcome
        # A stale key is reported only as what it is, a closed fd (poll's POLLNVAL, as the
        # stdlib's), never because one of our fds carries its number.
        ours = {f"a{i}" for i, fd in enumerate(stale_fds) if fd in outcome["own"]}
        for reported in [outcome["woken_before"], *outcome["woken"]]:
            assert not ours & set(reported), outcome
            if reported:
                assert kind(selector_class) != "EpollSelector", outcome
        assert outcome["woken"][-1] == []
        assert outcome["live"] == ["live"]
    finally:
        sel.close()


def test_asyncio_loop_keeps_its_cross_thread_wakeups(socketpair):
    """rselectors.new_event_loop() builds call_soon_threadsafe on wakeup(): after the
    sequence on its selector, a callback from another thread still runs promptly while the
    loop sleeps with no timers."""
    import rselectors

    loop = rselectors.new_event_loop()
    try:
        sel = loop._selector
        a = closed_registration(sel, socketpair)
        sel.wakeup()
        sel.select(0)
        sel.unregister(a)
        ran = threading.Event()

        def from_thread():
            time.sleep(0.05)
            loop.call_soon_threadsafe(ran.set)
            loop.call_soon_threadsafe(loop.stop)

        t = threading.Thread(target=from_thread)
        watchdog = loop.call_later(10, loop.stop)
        t0 = time.monotonic()
        t.start()
        loop.run_forever()
        t.join()
        watchdog.cancel()
        assert ran.is_set()
        assert time.monotonic() - t0 < PROMPT
    finally:
        loop.close()


def test_no_event_of_an_own_fd_is_reported(selector_class, socketpair):
    """With wake-ups pending and every registration ready, a select reports exactly the
    callers' keys."""
    sel = selector_class()
    try:
        pairs = [socketpair() for _ in range(3)]
        for i, (x, y) in enumerate(pairs):
            sel.register(x, EVENT_READ, i)
            y.send(b"x")
        for _ in range(3):
            sel.wakeup()
            assert sorted(key.data for key, _ in sel.select(5)) == [0, 1, 2]
    finally:
        sel.close()


def test_loops_leave_no_fd_behind():
    """Building and closing loops does not leak our fds."""
    import rselectors

    before = open_fds()
    for _ in range(20):
        rselectors.new_event_loop().close()
    assert open_fds() == before
