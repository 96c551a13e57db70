"""Reliability: fd numbers reused after close.

* An fd closed without unregister and reused by a new socket: once the user unregisters the
  old socket object (found by identity) and registers the new one, the new socket's events
  come under the new key only, the old key is never reported again.
* ``unregister`` after close never raises, whatever now occupies the fd number (nothing, a
  socket, a pipe, an eventfd, a regular file, an epoll object).
* epoll with a dup'ed fd: the old file stays in the epoll set after ``close(fd)`` while a dup
  exists; its events must never be delivered under the key later registered on the same fd
  number (the bindings tag kernel tokens with a per-registration generation). The stdlib
  reports them under the new key.
* A random churn of sockets (closed with or without unregister, with or without a dup kept
  open, fd numbers reused at once) checked after every step: ``select(0)`` reports exactly the
  live registrations that are ready.
"""

import errno
import os
import random
import socket
import time

import pytest
from _support import (
    CLASS_NAMES,
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    class_params,
    kind,
    needs_fd_numbers,
)

from ._reliability import record, soak_count

pytestmark = [pytest.mark.timeout(120), needs_fd_numbers]

EPOLL = [p for p in class_params() if p.id == "EpollSelector"]


def _socket_on_fd(fd):
    """A new connected socket whose fd number is ``fd`` (closed now), and its peer."""
    a, b = socket.socketpair()
    if a.fileno() != fd:
        os.dup2(a.fileno(), fd)
        a.close()
        a = socket.socket(fileno=fd)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def _ready(sel, timeout=0):
    return [(key.data, events) for key, events in sel.select(timeout)]


def test_reuse_after_close_without_unregister(sel):
    old, old_peer = socket.socketpair()
    fd = old.fileno()
    old_key = sel.register(old, EVENT_READ, "old")
    old_peer.send(b"x")
    assert _ready(sel) == [("old", EVENT_READ)]
    old.close()  # without unregister
    new, new_peer = _socket_on_fd(fd)
    try:
        assert new.fileno() == fd
        # the fd is still registered (the stdlib's rule): the new socket cannot register yet
        with pytest.raises(KeyError):
            sel.register(new, EVENT_READ, "new")
        assert sel.unregister(old) is old_key  # closed socket: found by identity, no error
        new_key = sel.register(new, EVENT_READ, "new")
        assert _ready(sel) == []
        with pytest.raises(BrokenPipeError):
            old_peer.send(b"more")  # the old socket is gone
        assert _ready(sel, 0.01) == []
        new_peer.send(b"y")
        assert sel.select(0) == [(new_key, EVENT_READ)]
        for _ in range(3):  # level-triggered, always under the new key
            assert sel.select(0.01) == [(new_key, EVENT_READ)]
    finally:
        for s in (new, new_peer, old_peer):
            s.close()


def _occupants():
    """Factories of things that can occupy a reused fd number (each returns the fd and a
    closer)."""
    def sock():
        a, b = socket.socketpair()
        return a.detach(), lambda: b.close()

    def pipe():
        r, w = os.pipe()
        return r, lambda: os.close(w)

    def regular_file():
        return os.open(__file__, os.O_RDONLY), lambda: None

    def epoll():
        import select

        ep = select.epoll()
        fd = os.dup(ep.fileno())
        ep.close()
        return fd, lambda: None

    out = {"nothing": None, "socket": sock, "pipe": pipe, "regular_file": regular_file}
    if hasattr(os, "eventfd"):
        out["eventfd"] = lambda: (os.eventfd(0), lambda: None)
    if hasattr(__import__("select"), "epoll"):
        out["epoll"] = epoll
    return out


OCCUPANTS = _occupants()


@pytest.mark.parametrize("occupant", list(OCCUPANTS))
@pytest.mark.parametrize("how", ["int_fd", "closed_socket", "dup_kept"])
def test_unregister_after_close_never_raises(sel, occupant, how):
    """Whatever now sits on the fd number, unregister returns the key; the next register of
    that number works (or fails exactly as a fresh register would)."""
    for _ in range(3):
        a, b = socket.socketpair()
        fd = a.fileno()
        keep = None
        if how == "int_fd":
            key = sel.register(fd, EVENT_BOTH, "k")
            target = fd
        else:
            key = sel.register(a, EVENT_BOTH, "k")
            target = a
        if how == "dup_kept":
            keep = os.dup(fd)
        if how == "int_fd":
            os.close(a.detach())
        else:
            a.close()
        closers = []
        factory = OCCUPANTS[occupant]
        if factory is not None:
            new_fd, closer = factory()
            closers.append(closer)
            if new_fd != fd:
                os.dup2(new_fd, fd)
                os.close(new_fd)
            closers.append(lambda fd=fd: os.close(fd))
        try:
            assert sel.unregister(target) is key
            assert len(sel.get_map()) == 0
            if factory is not None:
                # a fresh register of the new occupant: same outcome as on a new selector
                fresh = type(sel)()
                try:
                    try:
                        fresh.register(fd, EVENT_READ)
                        expected = None
                    except OSError as exc:
                        expected = (type(exc), exc.errno)
                finally:
                    fresh.close()
                try:
                    sel.register(fd, EVENT_READ)
                    got = None
                except OSError as exc:
                    got = (type(exc), exc.errno)
                assert got == expected, (occupant, how)
                if got is None:
                    sel.unregister(fd)
        finally:
            for c in closers:
                c()
            if keep is not None:
                os.close(keep)
            b.close()


@pytest.mark.parametrize("selector_class", EPOLL)
def test_epoll_dup_stale_registration_never_under_new_key(sel):
    """(file A, fd N) stays in the epoll set after close(N) while a dup of A is open; a new
    socket B takes fd N and is registered: A's readiness is never reported as B's."""
    a, a_peer = socket.socketpair()
    fd = a.fileno()
    sel.register(a, EVENT_READ, "old")
    keep = os.dup(fd)  # keeps file A (and its epoll entry) alive
    a.close()
    b, b_peer = _socket_on_fd(fd)
    try:
        assert sel.unregister(a).data == "old"  # the kernel DEL hits B: ENOENT, ignored
        new_key = sel.register(b, EVENT_READ, "new")
        a_peer.send(b"stale")  # the stale (A, fd) entry fires
        for _ in range(5):
            assert _ready(sel) == [], "a stale registration was reported under the new key"
        b_peer.send(b"real")  # now B is readable too: reported once, under its key
        assert sel.select(0) == [(new_key, EVENT_READ)]
        # modify/unregister of B work and never resurrect A under B's key
        sel.modify(b, EVENT_WRITE, "new-w")
        assert _ready(sel) == [("new-w", EVENT_WRITE)]
        sel.unregister(b)
        assert _ready(sel) == []
        sel.register(b, EVENT_READ, "again")
        assert _ready(sel) == [("again", EVENT_READ)]
    finally:
        os.close(keep)
        for s in (a_peer, b, b_peer):
            s.close()


@pytest.mark.parametrize("selector_class", EPOLL)
def test_epoll_stale_registration_does_not_end_the_wait_early(sel):
    a, a_peer = socket.socketpair()
    fd = a.fileno()
    sel.register(a, EVENT_READ)
    keep = os.dup(fd)
    a.close()
    b, b_peer = _socket_on_fd(fd)
    try:
        sel.unregister(a)
        sel.register(b, EVENT_READ)
        a_peer.send(b"stale")
        t0 = time.monotonic()
        assert sel.select(0.2) == []
        assert time.monotonic() - t0 >= 0.2, "select(0.2) returned early with []"
    finally:
        os.close(keep)
        for s in (a_peer, b, b_peer):
            s.close()


@pytest.mark.parametrize("selector_class", EPOLL)
def test_epoll_stale_registration_vs_stdlib(sel):
    """The stdlib reports the stale file's readiness under the new key; we never do."""
    import selectors

    results = {}
    for name, s in (("stdlib", selectors.EpollSelector()), ("ours", sel)):
        a, a_peer = socket.socketpair()
        fd = a.fileno()
        s.register(a, EVENT_READ)
        keep = os.dup(fd)
        a.close()
        b, b_peer = _socket_on_fd(fd)
        s.unregister(a)
        s.register(b, EVENT_READ, "new")
        a_peer.send(b"stale")
        results[name] = _ready(s)
        os.close(keep)
        for x in (a_peer, b, b_peer):
            x.close()
        if name == "stdlib":
            s.close()
    assert results["ours"] == []
    if not results["stdlib"]:
        pytest.skip("the stdlib did not show the phantom event here")
    assert results["stdlib"] == [("new", EVENT_READ)]


# --- random churn -----------------------------------------------------------------------------

class Churn:
    """Sockets come and go on reused fd numbers; the model knows what is live, registered and
    ready. Stale kernel entries come from sockets closed without unregister while a dup is
    kept open (epoll keeps them)."""

    def __init__(self, sel, seed):
        self.sel = sel
        self.rng = random.Random(seed)
        self.live = {}  # fd -> [sock, peer, events or None, data, readable]
        self.dups = []  # (dup fd, peer of the stale socket)
        self.zombies = []  # (closed registered socket object, peer): to unregister later
        self.steps = 0
        self.stale_fired = 0

    def new_socket(self):
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        self.live[a.fileno()] = [a, b, None, None, False]

    def step(self):
        rng = self.rng
        self.steps += 1
        if len(self.live) < 6 or (len(self.live) < 12 and rng.random() < 0.1):
            self.new_socket()
        fd = rng.choice(list(self.live))
        entry = self.live[fd]
        sock, peer, events, _data, _readable = entry
        r = rng.random()
        sel = self.sel
        if r < 0.25:
            if events is None:
                events = rng.choice((EVENT_READ, EVENT_WRITE, EVENT_BOTH))
                data = object()
                sel.register(sock, events, data)
                entry[2:4] = [events, data]
        elif r < 0.4:
            if events is not None:
                events = rng.choice((EVENT_READ, EVENT_WRITE, EVENT_BOTH))
                data = object()
                sel.modify(sock, events, data)
                entry[2:4] = [events, data]
        elif r < 0.5:
            if events is not None:
                sel.unregister(sock)
                entry[2:4] = [None, None]
        elif r < 0.65:
            if not entry[4]:
                peer.send(b"x")
                entry[4] = True
        elif r < 0.75:
            if entry[4]:
                sock.recv(10)
                entry[4] = False
        else:
            # close, maybe without unregister, maybe keeping a dup (stale epoll entry)
            del self.live[fd]
            if rng.random() < 0.5:
                keep = os.dup(fd)
                self.dups.append((keep, peer))
            else:
                keep = None
            if events is not None and rng.random() < 0.7:
                sock.close()
                self.zombies.append((sock, peer if keep is None else None))
            else:
                if events is not None:
                    sel.unregister(sock)
                sock.close()
                if keep is None:
                    peer.close()
            # reuse the number at once, and clean zombies up (the user's unregister)
            self.new_socket()
            for z, zpeer in self.zombies:
                assert sel.unregister(z).fileobj is z
                if zpeer is not None:
                    zpeer.close()
            self.zombies.clear()
        # stale entries fire now and then
        if self.dups and rng.random() < 0.3:
            _keep, dpeer = rng.choice(self.dups)
            try:
                dpeer.send(b"s")
                self.stale_fired += 1
            except OSError:
                pass
        if len(self.dups) > 20:
            keep, dpeer = self.dups.pop(0)
            os.close(keep)
            dpeer.close()
        self.check()

    def check(self):
        want = {}
        for fd, (_s, _p, events, data, readable) in self.live.items():
            if events is None:
                continue
            mask = events & (EVENT_BOTH if readable else EVENT_WRITE)
            if mask:
                want[fd] = (id(data), mask)
        got = {}
        for key, events in self.sel.select(0):
            assert key.fd not in got, f"fd {key.fd} reported twice"
            got[key.fd] = (id(key.data), events)
        assert got == want, f"step {self.steps}: got {got}, want {want}"
        assert {k.fd for k in self.sel.get_map().values()} == {
            fd for fd, e in self.live.items() if e[2] is not None
        }

    def close(self):
        for sock, peer, *_ in self.live.values():
            sock.close()
            peer.close()
        for keep, dpeer in self.dups:
            os.close(keep)
            dpeer.close()


def _run_churn(selector_class, steps, seed):
    sel = selector_class()
    churn = Churn(sel, seed)
    t0 = time.monotonic()
    try:
        for _ in range(steps):
            churn.step()
    finally:
        churn.close()
        sel.close()
    record(f"fd_reuse_churn[{kind(selector_class)}]", steps=steps,
           stale_events_fired=churn.stale_fired, seconds=round(time.monotonic() - t0, 2))


@pytest.mark.parametrize("selector_class", class_params(), ids=CLASS_NAMES)
def test_fd_reuse_churn(selector_class):
    _run_churn(selector_class, 3000, seed=7)


@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("selector_class", class_params(), ids=CLASS_NAMES)
def test_fd_reuse_churn_soak(selector_class):
    _run_churn(selector_class, soak_count(200_000, minimum=3000), seed=11)


def test_errno_of_reused_modify_is_kernel_truth():
    """Sanity of the premise above: epoll refuses DEL for a file it does not watch."""
    import select

    if not hasattr(select, "epoll"):
        pytest.skip("epoll only")
    ep = select.epoll()
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as info:
            ep.unregister(r)
        assert info.value.errno == errno.ENOENT
    finally:
        ep.close()
        os.close(r)
        os.close(w)
