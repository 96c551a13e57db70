"""Reliability: 8 threads changing registrations while another thread loops in select().

Each worker thread owns its sockets and keeps the ground truth of what it registered, so
every call has exactly one correct outcome (the key it returns, or KeyError with the stdlib's
message): any other exception, a wrong key or a missing one fails the run. Meanwhile a
select thread loops in ``select()`` with short timeouts and checks every reported key and
mask, and a reader thread iterates the live ``get_map()`` view (whose only allowed failure is
the dict-like "changed during iteration" RuntimeError). At the end ``get_map()`` must equal
the union of the workers' truths, and the kernel must agree: every watched socket is made
ready and ``select(0)`` must report exactly the registered ones with their masks; then every
fd is unregistered and registered again (a kernel entry left behind would be EEXIST on
epoll). Deadlocks are bounded by join timeouts (stacks dumped) and pytest-timeout.

Fast variant: ``FAST_OPS`` operations per backend (a fifth under Wine). Soak (``-m soak``):
1,000,000 operations per backend times ``RSELECTORS_SOAK_SCALE``.

Thread safety against concurrent select() is one of our fixes (the stdlib's selectors are
not thread-safe), so these tests are skipped with RSELECTORS_UNDER_TEST=selectors.
"""

import os
import random
import sys
import threading
import time

import pytest
from _support import EVENT_BOTH, EVENT_READ, EVENT_WRITE, WINE, socketpair

from ._reliability import is_panic, join_all, record, soak_count

pytestmark = pytest.mark.fixes_stdlib(
    "thread safety: register/modify/unregister from threads while another selects"
)

N_WORKERS = 8
PAIRS_PER_WORKER = 4
#: Under Wine each registration change that nudges the waiting select() costs wineserver round
#: trips (~1 ms): a fifth of the count keeps the Windows stage in its time budget.
FAST_OPS = 20_000 if WINE else 100_000
SOAK_OPS = 1_000_000


class Failure(Exception):
    pass


class Worker(threading.Thread):
    def __init__(self, sel, index, ops, stop):
        super().__init__(name=f"worker-{index}", daemon=True)
        self.sel = sel
        self.rng = random.Random(1000 + index)
        self.ops = ops
        self.stop = stop
        self.pairs = [socketpair() for _ in range(PAIRS_PER_WORKER)]
        for _a, b in self.pairs:
            b.send(b"r")  # every `a` is readable and writable
        self.socks = [a for a, _b in self.pairs]
        self.truth = {}  # sock -> (events, data)
        self.done = 0
        self.error = None
        self.counts = {"register": 0, "modify": 0, "unregister": 0, "get_key": 0,
                       "map": 0, "expected_keyerror": 0}

    def check_key(self, key, sock, events, data):
        if not (key.fileobj is sock and key.fd == sock.fileno() and key.events == events
                and key.data is data):
            raise Failure(f"{self.name}: wrong key {key!r}, want {sock!r} {events} {data!r}")

    def expect_keyerror(self, call, sock, message):
        try:
            result = call()
        except KeyError as exc:
            if exc.args != (message,):
                raise Failure(f"{self.name}: KeyError{exc.args!r}, want {message!r}") from exc
            self.counts["expected_keyerror"] += 1
            return
        raise Failure(f"{self.name}: {call} returned {result!r} for {sock!r}, want KeyError")

    def step(self):
        rng = self.rng
        sel = self.sel
        sock = self.socks[rng.randrange(len(self.socks))]
        op = rng.random()
        truth = self.truth.get(sock)
        if op < 0.3:
            self.counts["register"] += 1
            events = rng.choice((EVENT_READ, EVENT_WRITE, EVENT_BOTH))
            data = object()
            if truth is None:
                key = sel.register(sock, events, data)
                self.check_key(key, sock, events, data)
                self.truth[sock] = (events, data)
            else:
                self.expect_keyerror(
                    lambda: sel.register(sock, events, data), sock,
                    f"{sock!r} (FD {sock.fileno()}) is already registered")
        elif op < 0.55:
            self.counts["modify"] += 1
            events = rng.choice((EVENT_READ, EVENT_WRITE, EVENT_BOTH))
            data = truth[1] if truth is not None and rng.random() < 0.3 else object()
            if truth is None:
                self.expect_keyerror(lambda: sel.modify(sock, events, data), sock,
                                     f"{sock!r} is not registered")
            else:
                key = sel.modify(sock, events, data)
                self.check_key(key, sock, events, data)
                self.truth[sock] = (events, data)
        elif op < 0.8:
            self.counts["unregister"] += 1
            if truth is None:
                self.expect_keyerror(lambda: sel.unregister(sock), sock,
                                     f"{sock!r} is not registered")
            else:
                key = sel.unregister(sock)
                self.check_key(key, sock, *truth)
                del self.truth[sock]
        elif op < 0.95:
            self.counts["get_key"] += 1
            if truth is None:
                self.expect_keyerror(lambda: sel.get_key(sock), sock,
                                     f"{sock!r} is not registered")
            else:
                self.check_key(sel.get_key(sock), sock, *truth)
        else:
            self.counts["map"] += 1
            m = sel.get_map()
            if truth is None:
                if sock in m or m.get(sock) is not None:
                    raise Failure(f"{self.name}: phantom {sock!r} in get_map()")
            else:
                self.check_key(m[sock], sock, *truth)

    def run(self):
        try:
            while self.done < self.ops and not self.stop.is_set():
                self.step()
                self.done += 1
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
            self.stop.set()

    def close(self):
        for a, b in self.pairs:
            a.close()
            b.close()


class SelectLoop(threading.Thread):
    def __init__(self, sel, all_socks, stop):
        super().__init__(name="select-loop", daemon=True)
        self.sel = sel
        self.all_socks = all_socks
        self.stop = stop
        self.calls = 0
        self.reported = 0
        self.error = None

    def run(self):
        timeouts = (0, 0.0005, 0.002, 0.01)
        try:
            while not self.stop.is_set():
                for key, events in self.sel.select(timeouts[self.calls % len(timeouts)]):
                    self.reported += 1
                    if id(key.fileobj) not in self.all_socks:
                        raise Failure(f"select() reported a foreign key {key!r}")
                    if events not in (1, 2, 3) or events & ~key.events:
                        raise Failure(f"select() reported mask {events} for {key!r}")
                self.calls += 1
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
            self.stop.set()


class MapReader(threading.Thread):
    def __init__(self, sel, stop):
        super().__init__(name="map-reader", daemon=True)
        self.sel = sel
        self.stop = stop
        self.iterations = 0
        self.changed_during_iteration = 0
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                try:
                    items = list(self.sel.get_map().items())
                except RuntimeError as exc:
                    if exc.args not in (("dictionary changed size during iteration",),
                                        ("dictionary keys changed during iteration",)):
                        raise
                    self.changed_during_iteration += 1
                    continue
                for fd, key in items:
                    if key.fd != fd:
                        raise Failure(f"get_map() item {fd} -> {key!r}")
                self.iterations += 1
                time.sleep(0.0005)
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
            self.stop.set()


def _final_consistency(sel, workers):
    """get_map() == ground truth; the kernel agrees (select(0) reports exactly the registered
    sockets, all ready for both directions); re-registering everything works."""
    truth = {}
    for w in workers:
        for sock, (events, data) in w.truth.items():
            truth[sock.fileno()] = (sock, events, data)
    m = sel.get_map()
    got = {fd: (key.fileobj, key.events, key.data) for fd, key in m.items()}
    lost = sorted(set(truth) - set(got))
    phantom = sorted(set(got) - set(truth))
    assert not lost and not phantom, f"lost {lost}, phantom {phantom}"
    for fd, (sock, events, data) in truth.items():
        g = got[fd]
        assert g[0] is sock and g[1] == events and g[2] is data, (fd, g, truth[fd])
    assert len(m) == len(truth)
    # kernel: every `a` socket is readable (its peer sent a byte) and writable
    ready = {key.fd: events for key, events in sel.select(0)}
    assert ready == {fd: events for fd, (_s, events, _d) in truth.items()}
    # no kernel leftovers: unregister and register everything again
    for w in workers:
        for sock in w.socks:
            if sock in w.truth:
                sel.unregister(sock)
            sel.register(sock, EVENT_BOTH)
    assert {key.fd: events for key, events in sel.select(0)} == {
        s.fileno(): EVENT_BOTH for w in workers for s in w.socks
    }


def run_storm(selector_class, ops_per_backend, timeout):
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the threads as finely as CPython allows
    sel = selector_class()
    stop = threading.Event()
    per_worker = ops_per_backend // N_WORKERS
    workers = [Worker(sel, i, per_worker, stop) for i in range(N_WORKERS)]
    all_socks = {id(s) for w in workers for s in w.socks}
    loop = SelectLoop(sel, all_socks, stop)
    reader = MapReader(sel, stop)
    t0 = time.monotonic()
    try:
        loop.start()
        reader.start()
        for w in workers:
            w.start()
        join_all(workers, timeout)
        stop.set()
        join_all([loop, reader], 10)
        elapsed = time.monotonic() - t0
        for t in [*workers, loop, reader]:
            if t.error is not None:
                if is_panic(t.error):
                    pytest.fail(f"Rust panic in {t.name}: {t.error!r}")
                raise t.error
        total = sum(w.done for w in workers)
        assert total == per_worker * N_WORKERS
        _final_consistency(sel, workers)
        counts = {}
        for w in workers:
            for k, v in w.counts.items():
                counts[k] = counts.get(k, 0) + v
        record(
            f"threads[{selector_class.__name__}]",
            ops=total, threads=N_WORKERS + 2, select_calls=loop.calls,
            events_reported=loop.reported, map_iterations=reader.iterations,
            map_changed_during_iteration=reader.changed_during_iteration,
            seconds=round(elapsed, 2), **counts,
        )
    finally:
        stop.set()
        sys.setswitchinterval(saved)
        sel.close()
        for w in workers:
            w.close()


@pytest.mark.timeout(120)
def test_thread_storm(selector_class):
    run_storm(selector_class, FAST_OPS, timeout=90)


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_thread_storm_soak(selector_class):
    run_storm(selector_class, soak_count(SOAK_OPS, minimum=N_WORKERS), timeout=3000)


# --- close() in the middle of the storm ---------------------------------------------------------

CLOSED_ERRORS = (
    ("RuntimeError", ("Selector is closed",)),
    ("ValueError", ("I/O operation on closed epoll object",)),
    ("ValueError", ("I/O operation on closed kqueue object",)),
    ("ValueError", ("I/O operation on closed devpoll object",)),
)


class CloseStorm:
    """8 threads register/modify/unregister/get_key and 2 threads loop in select(None) until
    the selector is closed."""

    def __init__(self, selector_class, seed):
        self.sel = selector_class()
        self.seed = seed
        self.stop = threading.Event()
        self.unexpected = []
        self.closed_errors = 0
        self.pairs = [socketpair() for _ in range(N_WORKERS * 2)]

    def closed_error(self, exc):
        if (type(exc).__name__, exc.args) in CLOSED_ERRORS:
            self.closed_errors += 1
        else:
            self.unexpected.append(exc)

    def work(self, i):
        rng = random.Random(self.seed * 100 + i)
        mine = [a for a, _b in self.pairs[2 * i: 2 * i + 2]]
        sel = self.sel
        while not self.stop.is_set():
            sock = rng.choice(mine)
            op = rng.randrange(4)
            try:
                if op == 0:
                    sel.register(sock, EVENT_READ, i)
                elif op == 1:
                    sel.modify(sock, EVENT_BOTH, i)
                elif op == 2:
                    sel.unregister(sock)
                else:
                    sel.get_key(sock)
            except KeyError:
                pass
            except (RuntimeError, ValueError) as exc:
                self.closed_error(exc)
            except BaseException as exc:  # noqa: BLE001
                self.unexpected.append(exc)
                return

    def wait(self):
        try:
            while not self.stop.is_set():
                self.sel.select(None)
        except (RuntimeError, ValueError) as exc:
            self.closed_error(exc)
        except BaseException as exc:  # noqa: BLE001
            self.unexpected.append(exc)

    def run(self):
        workers = [threading.Thread(target=self.work, args=(i,), daemon=True)
                   for i in range(N_WORKERS)]
        waiters = [threading.Thread(target=self.wait, daemon=True) for _ in range(2)]
        try:
            for t in workers + waiters:
                t.start()
            time.sleep(0.05)
            self.sel.close()
            t_close = time.monotonic()
            join_all(waiters, 10)  # they see the closed selector and leave their loop
            wake_latency = time.monotonic() - t_close
            self.stop.set()
            join_all(workers, 10)
            for exc in self.unexpected:
                if is_panic(exc):
                    pytest.fail(f"Rust panic: {exc!r}")
            assert not self.unexpected, self.unexpected[:5]
            assert self.sel.get_map() is None
            assert wake_latency < 5, wake_latency
            return wake_latency
        finally:
            self.stop.set()
            for a, b in self.pairs:
                a.close()
                b.close()


@pytest.mark.timeout(120)
def test_close_during_storm(selector_class):
    """close() while 8 threads change registrations and 2 threads select(None): both
    selects return promptly, every later call gives a closed-selector error (or KeyError:
    nothing is registered any more), nothing hangs or panics."""
    latencies = [CloseStorm(selector_class, seed).run() for seed in range(5)]
    record(f"close_during_storm[{selector_class.__name__}]", rounds=len(latencies),
           max_wake_latency_ms=round(1000 * max(latencies), 1))


def _select_into(sel, timeout, out):
    out.extend(sel.select(timeout))


@pytest.mark.timeout(120)
def test_no_zero_mask_after_concurrent_modify(selector_class):
    """Regression: the fd became readable during a wait and another thread switched it to
    WRITE before the waiter translated the kernel's events: select() must not report the
    key with events 0 (the stdlib never reports an empty mask)."""
    zero = 0
    tries = 40
    for _ in range(tries):
        sel = selector_class()
        r, w = os.pipe()
        try:
            sel.register(r, EVENT_READ)
            out = []
            t = threading.Thread(target=_select_into, args=(sel, 5, out), daemon=True)
            t.start()
            time.sleep(0.01)  # blocked in the kernel
            os.write(w, b"x")  # readable...
            sel.modify(r, EVENT_WRITE)  # ...now watched for WRITE only: a pipe's read end
            sel.register(w, EVENT_WRITE)  # ends the wait if the race did not happen
            t.join(10)
            assert not t.is_alive()
            zero += sum(1 for _key, events in out if events == 0)
            for key, events in out:
                assert events & ~key.events == 0
        finally:
            sel.close()
            os.close(r)
            os.close(w)
    assert zero == 0, f"select() reported (key, 0) in {zero} of {tries} races"
