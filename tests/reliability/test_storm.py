"""Reliability: every public method of one selector from many threads at once, at the
tightest interleaving the GIL allows (``sys.setswitchinterval(1e-6)``), with the outcome of
every call checked as it returns and against the other calls after each phase.

All threads share the same fds (tests/reliability/test_threads.py gives each worker its
own), so registrations race: every outcome must be one the stdlib's contract allows for an
order of the calls that agrees with real time (each call draws a ticket from a shared counter
just before and just after it), never anything else.

Under the GIL another thread can only run inside a call where the call releases the GIL (a
blocking ``select()``, ``wakeup()``'s write) or runs Python code. So besides sockets (C
``fileno()``) and fd numbers, the calls pass file objects whose ``fileno()`` is Python code,
and ``data`` objects whose ``==``/``!=`` are Python code (``modify()`` compares data), and the
map is iterated by a Python loop: at each of these points the thread gives the GIL away
(``os.sched_yield()``) one time in five, so another thread runs between a call's lookup and
its change, and between two steps of an iteration.

The fds (the same for the whole test, so that open fds compare across phases):

- *hot*: one end of a socket pair whose peer sent a byte: readable and writable;
- *cold*: one end of an idle socket pair: writable only;
- *dead*: the read end of an empty pipe: never ready (a pipe's read end is never writable);
  on Windows, whose select() takes sockets only, a listening socket nobody connects to.

Three *pinned* fds (one of each kind) are registered by the main thread when a phase starts,
after half the others, and never unregistered: the workers modify them, look them up and try
to register them again (always ``KeyError``). The other fds *churn*: registered, modified and
unregistered by any thread.

A phase: a new selector; 8 workers (soak: 16) each run a random mix of ``register`` (also
with an invalid mask), ``modify``, ``unregister``, ``get_key``, ``select()`` with a zero or a
sub-millisecond timeout, ``wakeup()``, and ``get_map()``'s ``len``, ``in``, ``[]``, ``get``,
iteration and ``keys()``/``values()``/``items()``, while one more thread loops in
``select(None)`` (ended by the workers' ``wakeup()`` calls and by readiness). Checked:

- as each call returns: a returned key is the right one (fd, file object, events, data); the
  only exceptions are the stdlib's ``KeyError`` (with its exact message) for a registration
  race, ``ValueError("Invalid events: 0")`` for the invalid mask and the dict-like
  ``RuntimeError`` of an iteration that saw the map change; a pinned fd is always found; a
  completed iteration has no fd twice and every pinned fd; ``select()`` reports only events
  the key asked for and the fd really has (nothing for a dead fd), never a mask of 0;
- after the workers end (the state is then quiescent): *no lost or phantom key*: for each fd,
  successful ``register`` calls minus successful ``unregister`` calls is 0 or 1, and the fd is
  in ``get_map()`` exactly when it is 1; the key there is one a call returned and no
  ``unregister`` returned; no key was returned by two ``unregister`` calls;
- *in real time*, against the tickets: no call found an fd missing (``KeyError``, ``in`` false,
  ``get`` None, absent from a completed iteration) while a registration of it was surely alive
  for the whole call (a ``register`` ended before the call began and no ``unregister`` that
  could come after it began before the call ended), nor found it registered while it surely
  was not; every key a call saw (``select()``, ``get_key``, the map) is one a call returned,
  and none after it was gone for good: returned by an ``unregister()`` that ended before the
  call began, or replaced by a key whose ``register``/``modify`` began after that key was
  returned and ended before the call began;
- the ``select(None)`` thread returns after one more ``wakeup()``; ``select(0)`` reports
  exactly the registered fds that are ready, with their masks (the kernel agrees with the
  table);
- ``close()`` in the middle of a second storm (with ``select(None)`` waiters): every call
  returns a normal outcome or exactly the error the same method raises on a selector that is
  already closed (a call begun after ``close()`` returned: that error), no waiter stays
  blocked;
- *no leak* after each phase (both selectors closed and dropped): the same open fds as
  before the first phase, the file objects' reference counts at their baseline, every
  ``data`` object of the phase freed (weak references), and ``tracemalloc``'s traced memory
  flat from the end of the first phase to the end of the last.

Fast variant (every pytest run): 3 phases of 8 x 400 calls per backend. Soak (``-m soak``):
20 phases of 16 x 3,000 calls (960,000 calls per backend), times ``RSELECTORS_SOAK_SCALE``
(at least 3 phases of 16 x 400 calls).

Thread safety is one of our fixes (the stdlib's selectors are not thread-safe), so these
tests are skipped with RSELECTORS_UNDER_TEST=selectors.
"""

import bisect
import gc
import itertools
import os
import random
import socket
import sys
import threading
import time
import tracemalloc
import weakref

import pytest
from _support import EVENT_BOTH, EVENT_READ, EVENT_WRITE, WINDOWS, open_fds, socketpair

from ._reliability import is_panic, join_all, record, soak_count

pytestmark = pytest.mark.fixes_stdlib(
    "thread safety: every method from many threads on one selector"
)

MASKS = (EVENT_READ, EVENT_WRITE, EVENT_BOTH)
#: select() timeouts of the workers: zero (the non-blocking path) and sub-millisecond ones
#: (the blocking path, which releases the GIL).
TIMEOUTS = (0, 0, 0.0001, 0.0005)
ITERATION_CHANGED = (
    ("dictionary changed size during iteration",),
    ("dictionary keys changed during iteration",),
)
#: Traced Python memory may grow this much from the end of the first phase to the end of
#: the last (allocator caches, interned strings), not per phase.
TRACED_GROWTH_BOUND = 256 * 1024
#: How often the Python code inside a call (``fileno()``, ``data``'s ``!=``) or between two
#: steps of an iteration gives the GIL away.
YIELD_PROBABILITY = 0.2
#: How each closed-selector outcome is asked for (see ``_closed_outcomes``).
METHODS = ("register", "modify", "unregister", "get_key", "select", "get_map", "wakeup")


class Failure(AssertionError):
    pass


#: Releases the GIL and yields the CPU (Windows has no sched_yield: a zero sleep there).
_yield = getattr(os, "sched_yield", None) or (lambda: time.sleep(0))


def _maybe_yield():
    """Sometimes hands the GIL over (``os.sched_yield`` releases it): Python code inside a
    call then lets another thread run there, not only when the switch interval expires."""
    if random.random() < YIELD_PROBABILITY:
        _yield()


class Data:
    """A ``data`` object: unique per call, compared by identity in Python code (a point where
    another thread can run inside ``modify()``), weakly referenced to check it is freed."""

    __slots__ = ("__weakref__", "tag")

    def __init__(self, tag):
        self.tag = tag

    def __eq__(self, other):
        _maybe_yield()
        return self is other

    def __ne__(self, other):
        _maybe_yield()
        return self is not other

    __hash__ = object.__hash__


class PyFileobj:
    """A file object whose ``fileno()`` is Python code (a point where another thread can
    run inside the lookup of every method)."""

    def __init__(self, fd):
        self._fd = fd

    def fileno(self):
        _maybe_yield()
        return self._fd


class PipeEnd(PyFileobj):
    """A pipe's read end, closed with the test."""

    def close(self):
        os.close(self._fd)


class Fd:
    """One watched fd: its file objects, number, readiness and role."""

    def __init__(self, sock, kind, pinned):
        self.sock = sock
        self.fd = sock.fileno()
        self.wrapper = PyFileobj(self.fd)
        self.kind = kind
        self.pinned = pinned
        # What the fd really is ready for (the kernel must report no more than this).
        self.ready = {"hot": EVENT_BOTH, "cold": EVENT_WRITE, "dead": 0}[kind]

    def fileobj(self, rng):
        """The socket, its fd number or a Python-level wrapper."""
        return rng.choice((self.sock, self.sock, self.fd, self.wrapper))

    def __repr__(self):
        return f"<{'pinned ' if self.pinned else ''}{self.kind} fd {self.fd}>"


class Fds:
    """The test's fds: made once, so that the open fds compare across phases."""

    def __init__(self, per_kind):
        self.closers = []
        self.all = []
        for kind in ("hot", "cold", "dead"):
            for i in range(per_kind):
                if kind == "dead" and WINDOWS:
                    sock = socket.create_server(("127.0.0.1", 0))
                    sock.setblocking(False)
                    self.closers.append(sock.close)
                elif kind == "dead":
                    r, w = os.pipe()
                    sock = PipeEnd(r)
                    self.closers += [sock.close, lambda w=w: os.close(w)]
                else:
                    sock, peer = socketpair()
                    if kind == "hot":
                        peer.send(b"x")
                    self.closers += [sock.close, peer.close]
                self.all.append(Fd(sock, kind, pinned=i == 0))
        self.pinned = [f for f in self.all if f.pinned]
        self.by_fd = {f.fd: f for f in self.all}

    def close(self):
        for close in self.closers:
            close()


class Record:
    """What one thread saw, with the tickets drawn just before and just after each call;
    merged and checked by the main thread after the phase."""

    def __init__(self):
        self.produced = []  # (fd, key, before, after): successful register() and modify()
        self.registered = []  # (fd, before, after): successful register()
        self.unregistered = []  # (fd, key, before, after): successful unregister()
        self.seen = []  # (key, before): keys returned by select(), get_key(), the map
        self.present = []  # (fd, before, after): calls that found fd registered
        self.absent = []  # (fd, before, after): calls that found fd not registered
        self.iterations = []  # (fds, before, after): completed get_map() iterations
        self.data = []  # weak references to every data object made
        self.counts = {}

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1


def _expect_keyerror(exc, message):
    if exc.args != (message,):
        raise Failure(f"KeyError{exc.args!r}, want KeyError({message!r})") from exc


class Storm:
    """One thread's calls: ``op()`` makes one random call and checks its outcome."""

    def __init__(self, sel, fds, seed, rec, tickets):
        self.sel = sel
        self.fds = fds
        self.rng = random.Random(seed)
        self.rec = rec
        self.tickets = tickets
        self.seq = 0

    def data(self):
        self.seq += 1
        d = Data(self.seq)
        self.rec.data.append(weakref.ref(d))
        return d

    def check_key(self, key, f, events=None, data=None):
        fileobj = key.fileobj
        if key.fd != f.fd or not (fileobj is f.sock or fileobj is f.wrapper or fileobj == f.fd):
            raise Failure(f"key {key!r} for {f!r}")
        if events is not None and (key.events != events or key.data is not data):
            raise Failure(f"key {key!r}, want events={events} data={data!r}")

    def saw(self, key, f, before, after):
        self.check_key(key, f)
        self.rec.seen.append((key, before))
        self.rec.present.append((f.fd, before, after))

    def lookup(self, f, call, message):
        """``call()`` (a lookup of ``f``): its key, or None after the stdlib's KeyError."""
        before = next(self.tickets)
        try:
            key = call()
        except KeyError as exc:
            self.rec.absent.append((f.fd, before, next(self.tickets)))
            if f.pinned:
                raise Failure(f"pinned {f!r} not found") from exc
            _expect_keyerror(exc, message)
            return None, before
        self.saw(key, f, before, next(self.tickets))
        return key, before

    def select(self, timeout):
        before = next(self.tickets)
        ready = self.sel.select(timeout)
        after = next(self.tickets)
        for key, events in ready:
            f = self.fds.by_fd.get(key.fd)
            if f is None or events not in MASKS or events & ~key.events or events & ~f.ready:
                raise Failure(f"select() reported {events} for {key!r} ({f!r})")
            self.saw(key, f, before, after)

    def iterate(self, m):
        view = self.rng.choice((m.keys, m.values, m.items, lambda: m))
        before = next(self.tickets)
        items = []
        try:
            for item in view():
                items.append(item)
                _maybe_yield()  # the loop's body lets other threads run
        except RuntimeError as exc:
            if exc.args not in ITERATION_CHANGED:
                raise
            self.rec.count("iteration_changed")
            return
        after = next(self.tickets)
        fds = []
        for item in items:
            if isinstance(item, int):
                if item not in self.fds.by_fd:
                    raise Failure(f"get_map() iteration gave {item!r}")
                self.rec.present.append((item, before, after))
                fds.append(item)
                continue
            fd, key = item if len(item) == 2 else (item.fd, item)
            f = self.fds.by_fd.get(fd)
            if f is None or key.fd != fd:
                raise Failure(f"get_map() iteration gave {item!r}")
            self.saw(key, f, before, after)
            fds.append(fd)
        if len(set(fds)) != len(fds) or not {p.fd for p in self.fds.pinned} <= set(fds):
            raise Failure(f"a completed get_map() iteration gave fds {fds}")
        self.rec.iterations.append((frozenset(fds), before, after))
        self.rec.count("iteration_completed")

    def map_read(self, m, f):
        """One random read of the live get_map() view."""
        rng = self.rng
        fileobj = f.fileobj(rng)
        how = rng.randrange(6)
        if how == 0:
            n = len(m)
            if n < len(self.fds.pinned) or n > len(self.fds.all):
                raise Failure(f"len(get_map()) = {n}")
        elif how == 1:
            before = next(self.tickets)
            found = fileobj in m
            seen = self.rec.present if found else self.rec.absent
            seen.append((f.fd, before, next(self.tickets)))
            if f.pinned and not found:
                raise Failure(f"pinned {f!r} not in get_map()")
        elif how == 2:
            self.lookup(f, lambda: m[fileobj], f"{fileobj!r} is not registered")
        elif how == 3:
            before = next(self.tickets)
            key = m.get(fileobj)
            after = next(self.tickets)
            if key is not None:
                self.saw(key, f, before, after)
            elif f.pinned:
                raise Failure(f"pinned {f!r}: get_map().get() is None")
            else:
                self.rec.absent.append((f.fd, before, after))
        else:
            self.iterate(m)

    def op(self):
        rng = self.rng
        sel = self.sel
        rec = self.rec
        f = rng.choice(self.fds.all)
        fileobj = f.fileobj(rng)
        x = rng.random()
        if x < 0.18:
            rec.count("register")
            events = rng.choice(MASKS)
            data = self.data()
            before = next(self.tickets)
            try:
                key = sel.register(fileobj, events, data)
            except KeyError as exc:
                rec.present.append((f.fd, before, next(self.tickets)))
                _expect_keyerror(exc, f"{fileobj!r} (FD {f.fd}) is already registered")
                return
            after = next(self.tickets)
            if f.pinned or key.fileobj is not fileobj:
                raise Failure(f"register({fileobj!r}) of {f!r} returned {key!r}")
            self.check_key(key, f, events, data)
            rec.produced.append((f.fd, key, before, after))
            rec.registered.append((f.fd, before, after))
        elif x < 0.20:
            rec.count("register_invalid")
            try:
                sel.register(fileobj, 0)
            except ValueError as exc:
                if exc.args != ("Invalid events: 0",):
                    raise
            else:
                raise Failure("register(events=0) did not raise")
        elif x < 0.38:
            rec.count("modify")
            events = rng.choice(MASKS)
            data = self.data()
            key, before = self.lookup(f, lambda: sel.modify(fileobj, events, data),
                                      f"{fileobj!r} is not registered")
            if key is not None:
                self.check_key(key, f, events, data)
                rec.produced.append((f.fd, key, before, rec.present[-1][2]))
        elif x < 0.52:
            rec.count("unregister")
            if not f.pinned:
                key, before = self.lookup(f, lambda: sel.unregister(fileobj),
                                          f"{fileobj!r} is not registered")
                if key is not None:
                    rec.unregistered.append((f.fd, key, before, rec.present[-1][2]))
        elif x < 0.62:
            rec.count("get_key")
            self.lookup(f, lambda: sel.get_key(fileobj), f"{fileobj!r} is not registered")
        elif x < 0.76:
            rec.count("map")
            self.map_read(sel.get_map(), f)
        elif x < 0.94:
            rec.count("select")
            self.select(rng.choice(TIMEOUTS))
        else:
            rec.count("wakeup")
            sel.wakeup()


class Worker(threading.Thread):
    def __init__(self, name, body):
        super().__init__(name=name, daemon=True)
        self.body = body
        self.error = None

    def run(self):
        try:
            self.body()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc


def _join(threads, timeout, what):
    """Joins the ``Worker``s (see ``join_all``), then raises the first one's error."""
    join_all(threads, timeout, what)
    for t in threads:
        if t.error is not None:
            if is_panic(t.error):
                pytest.fail(f"Rust panic in {t.name}: {t.error!r}")
            raise t.error


class History:
    """The successful register() and unregister() calls of one fd, as ticket intervals:
    whether the fd was surely registered (or surely not) for a whole interval, whatever the
    order of the calls that overlap."""

    def __init__(self, registers, unregisters):
        self.ups = self._by_after(registers)
        self.downs = self._by_before(unregisters)
        self.anti_ups = self._by_after(unregisters)
        self.anti_downs = self._by_before(registers)

    @staticmethod
    def _by_after(calls):
        """(afters, the largest "before" among the calls ended so far)."""
        calls = sorted(calls, key=lambda c: c[1])
        latest = list(itertools.accumulate((b for b, _a in calls), max))
        return [a for _b, a in calls], latest

    @staticmethod
    def _by_before(calls):
        """(befores, the largest "after" among the calls begun so far)."""
        calls = sorted(calls)
        latest = list(itertools.accumulate((a for _b, a in calls), max))
        return [b for b, _a in calls], latest

    @staticmethod
    def _surely(ups, downs, begin, end):
        """Some up call ended before ``begin`` and no down call that may come after it began
        before ``end``."""
        afters, latest_before = ups
        i = bisect.bisect_left(afters, begin)
        if i == 0:
            return False
        up_began = latest_before[i - 1]
        befores, latest_after = downs
        j = bisect.bisect_left(befores, end)
        return j == 0 or latest_after[j - 1] < up_began

    def registered(self, begin, end):
        return self._surely(self.ups, self.downs, begin, end)

    def unregistered(self, begin, end):
        return self._surely(self.anti_ups, self.anti_downs, begin, end)


def _histories(fds, records, initial):
    """Per fd, its History; a registration made before the storm counts as a register()
    call, and an fd not registered then as an unregister() call, both before any ticket."""
    registers = {f.fd: [] for f in fds.all}
    unregisters = {f.fd: [] for f in fds.all}
    for f in fds.all:
        (registers if f.fd in initial else unregisters)[f.fd].append((-1, -1))
    for rec in records:
        for fd, before, after in rec.registered:
            registers[fd].append((before, after))
        for fd, _key, before, after in rec.unregistered:
            unregisters[fd].append((before, after))
    return {fd: History(registers[fd], unregisters[fd]) for fd in registers}


def _check_real_time(fds, records, initial):
    """No call found an fd registered while it surely was not, or not registered while it
    surely was (lost keys and phantom keys at the moment of each call)."""
    history = _histories(fds, records, initial)
    for rec in records:
        for fd, before, after in rec.present:
            if history[fd].unregistered(before, after):
                raise Failure(f"fd {fd} found registered in [{before}, {after}], "
                              "where no registration of it was alive")
        for fd, before, after in rec.absent:
            if history[fd].registered(before, after):
                raise Failure(f"fd {fd} not found in [{before}, {after}], "
                              "where a registration of it was alive")
        for found, before, after in rec.iterations:
            for fd, h in history.items():
                if fd not in found and h.registered(before, after):
                    raise Failure(f"a get_map() iteration in [{before}, {after}] "
                                  f"missed fd {fd}, registered all along")


def _check_no_stale_key(records, produced, removed):
    """No call saw a key after it was gone for good (see the module doc)."""
    # Per fd: the tickets drawn before the calls that produced its keys, in order, and the
    # smallest "after" ticket of those calls from each position on.
    by_fd = {}
    for fd, _k, before, after in produced.values():
        by_fd.setdefault(fd, []).append((before, after))
    lives = {}
    for fd, calls in by_fd.items():
        calls.sort()
        suffix_min = [a for _b, a in calls] + [float("inf")]
        for i in range(len(calls) - 1, -1, -1):
            suffix_min[i] = min(suffix_min[i], suffix_min[i + 1])
        lives[fd] = ([b for b, _a in calls], suffix_min)
    for rec in records:
        for key, began in rec.seen:
            fd, _k, _b, made = produced[id(key)]
            starts, suffix_min = lives[fd]
            replaced = suffix_min[bisect.bisect_right(starts, made)]
            gone = removed.get(id(key), (None, float("inf")))[1]
            if replaced < began or gone < began:
                raise Failure(f"a call begun at ticket {began} saw {key!r}, replaced at "
                              f"{replaced} / unregistered at {gone}")


def _check_quiescent(sel, fds, records, initial):
    """The state after the storm against what the calls returned (see the module doc)."""
    produced = {id(k): (fd, k, -1, -1) for fd, k in initial.items()}
    live = {f.fd: int(f.fd in initial) for f in fds.all}
    removed = {}
    for rec in records:
        produced.update((id(k), (fd, k, b, a)) for fd, k, b, a in rec.produced)
        for fd, _b, _a in rec.registered:
            live[fd] += 1
        for fd, key, _b, after in rec.unregistered:
            live[fd] -= 1
            if id(key) in removed:
                raise Failure(f"two unregister() calls returned {key!r}")
            removed[id(key)] = (key, after)
    state = dict(sel.get_map().items())
    for fd, n in live.items():
        if n not in (0, 1) or (fd in state) != (n == 1):
            raise Failure(f"fd {fd}: successful register() minus unregister() calls: {n}, "
                          f"in get_map(): {fd in state}")
    for fd, key in state.items():
        if id(key) not in produced or id(key) in removed:
            raise Failure(f"get_map() holds {key!r}: no call returned it, or unregister() did")
        if sel.get_key(fd) is not key:
            raise Failure(f"get_key({fd}) is not get_map()[{fd}]")
    for rec in records:
        for key, _before in rec.seen:
            if id(key) not in produced:
                raise Failure(f"a call saw {key!r}, which no call returned")
    _check_no_stale_key(records, produced, removed)
    _check_real_time(fds, records, initial)
    expected = {fd: key.events & fds.by_fd[fd].ready for fd, key in state.items()}
    ready = {key.fd: events for key, events in sel.select(0)}
    if ready != {fd: ev for fd, ev in expected.items() if ev}:
        raise Failure(f"select(0) reported {ready}, the registrations give {expected}")


def _storm_phase(selector_class, fds, phase, workers, calls, totals):
    """One storm on a new selector, checked, then closed; returns weak references to every
    data object it made (all must be freed with the selector)."""
    sel = selector_class()
    # Half the churn fds, then the pinned ones: an iteration cut short at a churn fd that
    # went away misses pinned fds.
    first = [f for f in fds.all if not f.pinned][::2] + fds.pinned
    initial = {f.fd: sel.register(f.sock, EVENT_READ, "initial") for f in first}
    records = [Record() for _ in range(workers + 1)]  # the last: select(None)'s
    tickets = itertools.count()  # next() is atomic
    stop = threading.Event()

    def storm(i):
        s = Storm(sel, fds, seed=phase * 1000 + i, rec=records[i], tickets=tickets)
        for _ in range(calls):
            s.op()

    def sleeper():
        s = Storm(sel, fds, 0, records[-1], tickets)
        while not stop.is_set():
            s.select(None)
            records[-1].count("select_none")

    threads = [Worker(f"storm-{i}", lambda i=i: storm(i)) for i in range(workers)]
    blocked = Worker("select-None", sleeper)
    blocked.start()
    for t in threads:
        t.start()
    _join(threads, 300, "storm")
    stop.set()
    sel.wakeup()
    _join([blocked], 10, "select(None) after wakeup()")
    _check_quiescent(sel, fds, records, initial)
    sel.close()
    for rec in records:
        for k, v in rec.counts.items():
            totals[k] = totals.get(k, 0) + v
    return [w for rec in records for w in rec.data]


def _closed_outcomes(selector_class, fds):
    """What each method does on a selector that is already closed (the stdlib's errors)."""
    sel = selector_class()
    f = fds.all[0]
    sel.register(f.sock, EVENT_READ)
    sel.close()
    out = {}
    for name in METHODS:
        try:
            out[name] = ("ok", _call(sel, name, f.sock, EVENT_READ, 0))
        except Exception as exc:  # noqa: BLE001 - every outcome is recorded
            out[name] = ("raise", type(exc), exc.args)
    return out


def _call(sel, name, fileobj, events, timeout):
    if name in ("register", "modify"):
        return getattr(sel, name)(fileobj, events)
    if name in ("unregister", "get_key"):
        return getattr(sel, name)(fileobj)
    if name == "select":
        return sel.select(timeout)
    return getattr(sel, name)()


def _close_storm(selector_class, fds, seed, closed):
    """close() while 6 threads call every method, 2 of them select(None) (see the doc)."""
    sel = selector_class()
    for f in fds.pinned:
        if f.kind == "dead":
            sel.register(f.sock, EVENT_READ)
    done = threading.Event()

    def body(i):
        rng = random.Random(seed * 100 + i)
        after = 0
        while after < 3:
            began_after_close = done.is_set()
            name = "select" if i < 2 else rng.choice(METHODS)
            timeout = None if i < 2 else rng.choice(TIMEOUTS)
            try:
                got = ("ok", _call(sel, name, rng.choice(fds.all).fileobj(rng),
                                   rng.choice(MASKS), timeout))
            except KeyError:
                got = None  # not registered (any more): the stdlib's KeyError
            except Exception as exc:  # noqa: BLE001 - checked below
                got = ("raise", type(exc), exc.args)
            if got is not None and got != closed[name] and (got[0] == "raise"
                                                            or began_after_close):
                when = "after" if began_after_close else "during"
                raise Failure(f"{name}() {when} close(): {got!r}, want {closed[name]!r}")
            after += began_after_close

    threads = [Worker(f"closer-{i}", lambda i=i: body(i)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.005)
    sel.close()
    done.set()
    _join(threads, 10, "close() during the storm")
    assert sel.get_map() is None


def _leak_state(fds):
    gc.collect()
    return (open_fds(), [sys.getrefcount(f.sock) for f in fds.all],
            tracemalloc.get_traced_memory()[0])


def run_storm(selector_class, phases, workers, calls):
    fds = Fds(per_kind=4)
    closed = _closed_outcomes(selector_class, fds)
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the shortest switch interval CPython accepts
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    totals = {}
    try:
        base_fds, base_refs, _ = _leak_state(fds)
        traced = []
        for phase in range(phases):
            weak = _storm_phase(selector_class, fds, phase, workers, calls, totals)
            _close_storm(selector_class, fds, phase, closed)
            now_fds, refs, mem = _leak_state(fds)
            alive = sum(w() is not None for w in weak)
            assert now_fds == base_fds, f"phase {phase}: fds {sorted(now_fds ^ base_fds)}"
            assert refs == base_refs, f"phase {phase}: refcounts {refs}, want {base_refs}"
            assert alive == 0, f"phase {phase}: {alive} of {len(weak)} data objects alive"
            traced.append(mem)
        growth = traced[-1] - traced[0]
        assert growth < TRACED_GROWTH_BOUND, f"traced memory by phase: {traced}"
    finally:
        sys.setswitchinterval(saved)
        if not tracing:
            tracemalloc.stop()
        fds.close()
    record(f"storm[{selector_class.__name__}]", phases=phases, threads=workers + 1,
           calls=phases * workers * calls, traced_growth=growth, **totals)
    return totals


@pytest.mark.timeout(300)
def test_storm(selector_class):
    totals = run_storm(selector_class, phases=3, workers=8, calls=400)
    # The storm reached the outcomes it checks.
    assert totals["iteration_completed"] > 0 and totals["select_none"] > 0, totals


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_storm_soak(selector_class):
    run_storm(selector_class, phases=soak_count(20, minimum=3), workers=16,
              calls=soak_count(3_000, minimum=400))
