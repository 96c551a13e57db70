"""Reliability: selectors across os.fork(), on every backend.

The defined semantics (README "fork"): after ``os.fork()`` the child's selector replaces its
kernel object (epoll, the wake-up fd...) with a fresh one holding the same registrations, on
first use. So:

* the child selects with the inherited registrations (same keys);
* the child's register/unregister/modify never affect the parent: the parent's ``select``
  never reports a child-only registration nor loses one the child removed, and the parent can
  register an fd the child registered (a shared epoll would say EEXIST) - and vice versa;
* wake-ups do not cross: the child's ``wakeup()``/``close()`` never wake the parent's
  ``select()`` and the parent's never wake the child's;
* both can keep selecting concurrently, each seeing its own registrations;
* fork while another parent thread is blocked in ``select()``; fork of a closed selector;
  a child of a child.

Each child runs its checks and reports through a pipe (``os._exit`` always); a hung child is
killed after a timeout and reported.
"""

import os
import random
import select as _select_module
import threading
import time

import pytest
from _support import EVENT_BOTH, EVENT_READ, EVENT_WRITE, Child, kind

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.fixes_stdlib("fork: the child gets its own kernel object (asyncio #347)"),
    pytest.mark.timeout(120),
    # 3.12+ warns about fork() with threads running; the threads here are ours, on purpose
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]


class Gate:
    """A one-shot signal between processes (a pipe)."""

    def __init__(self):
        self.r, self.w = os.pipe()

    def open(self):
        os.write(self.w, b"!")

    def wait(self, timeout=20):
        r, _, _ = _select_module.select([self.r], [], [], timeout)
        if not r:
            raise TimeoutError("gate never opened")
        os.read(self.r, 1)

    def close(self):
        os.close(self.r)
        os.close(self.w)


@pytest.fixture
def world(socketpair):
    """Sockets, all created before any fork: a (readable), b (idle), c (writable)."""

    class W:
        pass

    w = W()
    w.a, w.a_peer = socketpair()
    w.a_peer.send(b"data")
    w.b, w.b_peer = socketpair()
    w.c, w.c_peer = socketpair()
    w.x, w.x_peer = socketpair()  # not registered by the parent
    w.x_peer.send(b"data")
    w.y, w.y_peer = socketpair()
    return w


def ready(sel, timeout=0):
    return {key.fd: events for key, events in sel.select(timeout)}


def populate(sel, w):
    sel.register(w.a, EVENT_READ, "a")
    sel.register(w.b, EVENT_READ, "b")
    sel.register(w.c, EVENT_WRITE, "c")
    return {w.a.fileno(): EVENT_READ, w.c.fileno(): EVENT_WRITE}


def test_child_selects_with_inherited_registrations(sel, world):
    expected = populate(sel, world)
    keys = dict(sel.get_map().items())
    assert ready(sel) == expected

    def child():
        assert ready(sel) == expected
        for key, _events in sel.select(0):
            assert key is keys[key.fd]  # the very same key objects
        assert ready(sel, 0.05) == expected
        assert sel.get_key(world.a).data == "a"
        # and it keeps working for new registrations
        sel.register(world.x, EVENT_READ, "x")
        assert ready(sel) == {**expected, world.x.fileno(): EVENT_READ}
        return len(sel.get_map())

    assert Child(child).result() == 4
    assert ready(sel) == expected
    assert dict(sel.get_map().items()) == keys


@pytest.mark.parametrize("child_touches_first", [False, True], ids=["fresh", "touched"])
def test_child_changes_invisible_to_parent(sel, world, child_touches_first):
    expected = populate(sel, world)
    keys = dict(sel.get_map().items())
    changed, parent_done = Gate(), Gate()

    def child():
        if child_touches_first:
            assert ready(sel) == expected
        sel.unregister(world.a)
        sel.modify(world.b, EVENT_WRITE, "b2")
        sel.register(world.x, EVENT_BOTH, "x")
        mine = {world.b.fileno(): EVENT_WRITE, world.c.fileno(): EVENT_WRITE,
                world.x.fileno(): EVENT_BOTH}
        assert ready(sel) == mine
        changed.open()
        parent_done.wait()
        assert ready(sel) == mine  # the parent's checks below did not touch us either
        return True

    proc = Child(child)
    try:
        changed.wait()
        # the parent's selector: as before, kernel included
        assert ready(sel) == expected
        assert ready(sel, 0.05) == expected
        assert dict(sel.get_map().items()) == keys
        # a shared epoll would refuse this (EEXIST: the child registered x)
        kx = sel.register(world.x, EVENT_READ, "parent x")
        assert ready(sel) == {**expected, world.x.fileno(): EVENT_READ}
        assert sel.unregister(world.x) is kx
        # a shared epoll would have lost a (the child unregistered it): still reported
        assert sel.modify(world.a, EVENT_READ, "a2").data == "a2"
    finally:
        parent_done.open()
    assert proc.result() is True
    assert ready(sel) == expected
    changed.close()
    parent_done.close()


@pytest.mark.parametrize("child_touches_first", [False, True], ids=["fresh", "touched"])
def test_parent_changes_invisible_to_child(sel, world, child_touches_first):
    expected = populate(sel, world)
    touched, changed, child_done = Gate(), Gate(), Gate()

    def child():
        if child_touches_first:
            assert ready(sel) == expected
        touched.open()
        changed.wait()
        assert ready(sel) == expected
        assert ready(sel, 0.05) == expected
        # the parent registered y: we can too (no EEXIST from a shared kernel object)
        sel.register(world.y, EVENT_WRITE, "child y")
        assert ready(sel) == {**expected, world.y.fileno(): EVENT_WRITE}
        child_done.open()
        return True

    proc = Child(child)
    try:
        touched.wait()
        sel.unregister(world.a)
        sel.modify(world.b, EVENT_WRITE)
        sel.register(world.y, EVENT_BOTH)
        changed.open()
        child_done.wait()
        assert ready(sel) == {world.b.fileno(): EVENT_WRITE, world.c.fileno(): EVENT_WRITE,
                              world.y.fileno(): EVENT_WRITE}
    finally:
        changed.open()
    assert proc.result() is True
    for g in (touched, changed, child_done):
        g.close()


@pytest.mark.parametrize("direction", ["child_wakes_parent", "parent_wakes_child"])
def test_wakeups_do_not_cross(sel, world, direction):
    """The wake-up fd exists before the fork (the parent used wakeup()): the child's
    wakeup()/close() never end the parent's select(), and the reverse."""
    sel.register(world.b, EVENT_READ)  # never ready
    sel.wakeup()
    assert sel.select(5) == []  # consumes the wake-up; the notifier now exists
    started = Gate()

    if direction == "child_wakes_parent":
        def child():
            started.wait()
            for _ in range(20):
                sel.wakeup()
                time.sleep(0.01)
            sel.close()
            return True

        proc = Child(child)
        started.open()
        t0 = time.monotonic()
        assert sel.select(0.8) == []
        elapsed = time.monotonic() - t0
        assert proc.result() is True
        assert elapsed >= 0.8, f"the child's wakeup()/close() woke the parent ({elapsed:.3f}s)"
        assert sel.get_map() is not None and len(sel.get_map()) == 1
    else:
        def child():
            started.open()
            t0 = time.monotonic()
            result = sel.select(0.8)
            return result, time.monotonic() - t0

        proc = Child(child)
        started.wait()
        for _ in range(20):
            sel.wakeup()
            time.sleep(0.01)
        sel.close()
        result, elapsed = proc.result()
        assert result == []
        assert elapsed >= 0.8, f"the parent's wakeup()/close() woke the child ({elapsed:.3f}s)"
    started.close()


def _random_session(sel, socks, seed, steps):
    """Random register/modify/unregister on ``socks`` with select(0) checked after each
    step against the expected readiness (a readable+writable, b writable; both static)."""
    rng = random.Random(seed)
    mine = {key.fd: key.events for key in sel.get_map().values()}  # inherited ones too
    readable = {s.fileno() for s in socks[::2]}
    for _ in range(steps):
        s = rng.choice(socks)
        events = rng.choice((EVENT_READ, EVENT_WRITE, EVENT_BOTH))
        if s.fileno() in mine:
            if rng.random() < 0.5:
                sel.unregister(s)
                del mine[s.fileno()]
            else:
                sel.modify(s, events)
                mine[s.fileno()] = events
        else:
            sel.register(s, events)
            mine[s.fileno()] = events
        want = {}
        for fd, ev in mine.items():
            mask = ev & (EVENT_BOTH if fd in readable else EVENT_WRITE)
            if mask:
                want[fd] = mask
        got = ready(sel, 0.0005 if rng.random() < 0.05 else 0)
        assert got == want, (got, want)
    return len(mine)


def test_parent_and_child_select_concurrently(selector_class, socketpair):
    """Both processes change registrations of the same sockets and select at the same time,
    each checking every result against its own registrations."""
    socks = []
    for _ in range(6):
        a, b = socketpair()
        b.send(b"x")
        socks += [a, b]
    # socks[::2] are readable (their peer sent a byte); every socket is writable
    readable_socks = socks[::2]
    others = socks[1::2]
    ordered = [s for pair in zip(readable_socks, others) for s in pair]
    sel = selector_class()
    for s in ordered[:4]:
        sel.register(s, EVENT_READ)
    for s in ordered[:4]:
        sel.unregister(s)
    go = Gate()
    try:
        proc = Child(lambda: (go.wait(), _random_session(sel, ordered, 2, 3000))[1])
        go.open()
        _random_session(sel, ordered, 1, 3000)
        proc.result(timeout=60)
    finally:
        sel.close()
        go.close()


def test_fork_while_another_thread_is_blocked_in_select(sel, world):
    """A parent thread waits in select(None); five children fork off and use the selector;
    the parent's waiter is never woken by them and returns when its fd becomes ready."""
    key_b = sel.register(world.b, EVENT_READ, "b")
    out = []
    waiter = threading.Thread(target=lambda: out.append(sel.select(None)), daemon=True)
    waiter.start()
    time.sleep(0.1)

    def child():
        assert ready(sel) == {}
        sel.register(world.c, EVENT_WRITE)
        assert ready(sel) == {world.c.fileno(): EVENT_WRITE}
        assert ready(sel, 0.02) == {world.c.fileno(): EVENT_WRITE}
        sel.unregister(world.b)
        sel.wakeup()
        sel.close()
        return True

    for _ in range(5):
        assert Child(child).result() is True
        assert waiter.is_alive(), f"a child woke the parent's select(): {out}"
    world.b_peer.send(b"now")
    waiter.join(5)
    assert not waiter.is_alive()
    assert out == [[(key_b, EVENT_READ)]]


def test_fork_while_threads_hammer_the_selector(selector_class, socketpair):
    """Fork 20 times while another thread registers/unregisters and a third selects: no child
    deadlocks on a lock held at fork time, and every child's selector works."""
    sel = selector_class()
    pairs = [socketpair() for _ in range(4)]
    stop = threading.Event()
    errors = []

    def hammer():
        try:
            while not stop.is_set():
                for a, _b in pairs:
                    sel.register(a, EVENT_WRITE)
                for a, _b in pairs:
                    sel.unregister(a)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def selecting():
        try:
            while not stop.is_set():
                sel.select(0.001)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=hammer, daemon=True),
               threading.Thread(target=selecting, daemon=True)]
    for t in threads:
        t.start()

    def child():
        # whatever the hammer left registered, the child's view is self-consistent
        registered = {key.fd for key in sel.get_map().values()}
        assert set(ready(sel)) == registered
        for a, _b in pairs:
            if a.fileno() in registered:
                sel.unregister(a)
        sel.register(pairs[0][1], EVENT_WRITE)
        assert set(ready(sel, 0.01)) == {pairs[0][1].fileno()}
        return True

    try:
        for _ in range(20):
            assert Child(child).result(timeout=20) is True
            time.sleep(0.005)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        sel.close()
        for a, b in pairs:
            a.close()
            b.close()
    assert errors == []


def test_fork_of_a_closed_selector(selector_class, world):
    sel = selector_class()
    populate(sel, world)
    sel.close()

    def outcome(call):
        try:
            return ("ok", call())
        except Exception as exc:  # noqa: BLE001
            return ("raise", type(exc).__name__, exc.args)

    calls = {
        "select": lambda: sel.select(0),
        "register": lambda: sel.register(world.x, EVENT_READ),
        "get_key": lambda: sel.get_key(world.a),
        "unregister": lambda: sel.unregister(world.a),
        "get_map": lambda: sel.get_map(),
        "close": lambda: sel.close(),
    }
    if hasattr(sel, "fileno"):
        calls["fileno"] = lambda: sel.fileno()
    in_parent = {name: outcome(call) for name, call in calls.items()}
    in_child = Child(lambda: {name: outcome(call) for name, call in calls.items()}).result()
    assert in_child == in_parent
    assert in_parent["select"][0] == "raise"
    assert in_parent["get_map"] == ("ok", None)


def test_parent_closes_after_fork(sel, world):
    """The parent closing its selector (its kernel object) does not disturb the child's."""
    expected = populate(sel, world)
    closed = Gate()

    def child():
        closed.wait()
        assert ready(sel) == expected
        sel.unregister(world.a)
        assert ready(sel) == {world.c.fileno(): EVENT_WRITE}
        return True

    proc = Child(child)
    sel.close()
    closed.open()
    assert proc.result() is True
    closed.close()


def test_child_of_a_child(sel, world):
    expected = populate(sel, world)
    x, y = world.x.fileno(), world.y.fileno()

    def grandchild():
        assert ready(sel) == {**expected, x: EVENT_READ}
        sel.unregister(world.a)
        sel.register(world.y, EVENT_WRITE)
        assert ready(sel) == {world.c.fileno(): EVENT_WRITE, x: EVENT_READ, y: EVENT_WRITE}
        return True

    def child():
        sel.register(world.x, EVENT_READ)
        assert Child(grandchild).result() is True
        # the grandchild's changes are not ours
        assert ready(sel) == {**expected, x: EVENT_READ}
        sel.register(world.y, EVENT_READ)  # no EEXIST
        assert ready(sel) == {**expected, x: EVENT_READ}
        # a great-grandchild of an untouched selector works too
        assert Child(lambda: ready(sel)).result() == {**expected, x: EVENT_READ}
        return True

    assert Child(child).result() is True
    assert ready(sel) == expected
    sel.register(world.x, EVENT_READ)
    sel.register(world.y, EVENT_WRITE)
    assert ready(sel) == {**expected, x: EVENT_READ, y: EVENT_WRITE}


def test_child_without_fds_for_a_new_kernel_object(sel, world, selector_class):
    """The child cannot create its new kernel objects (its fd table is full): it must not
    fall back to the parent's. Defined: every call that needs the kernel raises that
    OSError (EMFILE) and changes nothing, unregister still works (quietly, as for a closed
    fd), nothing panics, and once fds are free again the next call makes the child's own
    objects and works; the parent is unaffected either way. poll and select keep their set
    in user space and make their own fds at first need only (no wait here needs one: fds
    are ready): their child's selector needs no fd, and every call works."""
    expected = populate(sel, world)

    def child():
        fds = []
        try:
            while True:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
        results = {}
        for name, call in (
            ("select", lambda: sel.select(0)),
            ("select_blocking", lambda: sel.select(0.01)),
            ("register", lambda: sel.register(world.x, EVENT_READ)),
            ("modify", lambda: sel.modify(world.b, EVENT_WRITE, "b")),
            ("wakeup", lambda: sel.wakeup()),
            ("unregister", lambda: sel.unregister(world.a)),
        ):
            try:
                results[name] = ("ok", repr(call()))
            except BaseException as exc:  # noqa: BLE001 - a PanicException is a BaseException
                results[name] = ("raise", type(exc).__name__, str(exc))
        for fd in fds:
            os.close(fd)
        results["keys"] = sorted(key.fd for key in sel.get_map().values())
        results["after"] = sorted((key.fd, ev) for key, ev in sel.select(0))
        return results

    results = Child(child).result()
    print(f"\n[reliability] child without fds ({kind(selector_class)}): {results}")
    calls = ("select", "select_blocking", "register", "modify", "wakeup")
    if not hasattr(sel, "fileno"):
        for name in (*calls, "unregister"):
            assert results[name][0] == "ok", (name, results)
        assert results["keys"] == sorted([world.b.fileno(), world.c.fileno(), world.x.fileno()])
        assert ready(sel) == expected
        sel.register(world.x, EVENT_READ)  # the child did not register x in our set
        return
    emfile = ("raise", "OSError", "[Errno 24] Too many open files")
    for name in calls:
        assert results[name] == emfile, (name, results)
    assert results["unregister"][0] == "ok", results
    # nothing but the unregister changed the child's table, and its own kernel objects,
    # made once fds were free, report what the parent's reports (minus the unregistered a)
    assert results["keys"] == sorted([world.b.fileno(), world.c.fileno()])
    assert results["after"] == sorted((fd, ev) for fd, ev in expected.items() if fd != world.a.fileno())
    assert ready(sel) == expected
    sel.register(world.x, EVENT_READ)  # the child did not register x in our kernel object


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_fork_soak(selector_class, socketpair):
    """Many forks (200 x RSELECTORS_SOAK_SCALE), each child and the parent changing and
    selecting concurrently; every third child forks a grandchild that does the same."""
    from ._reliability import record, soak_count

    socks = []
    for _ in range(6):
        a, b = socketpair()
        b.send(b"x")
        socks += [a, b]
    sel = selector_class()
    forks = soak_count(200, minimum=10)
    t0 = time.monotonic()
    try:
        for i in range(forks):
            def child(i=i):
                n = _random_session(sel, socks, 10_000 + i, 300)
                if i % 3 == 0:
                    Child(lambda: _random_session(sel, socks, 20_000 + i, 200)).result()
                return n

            proc = Child(child)
            _random_session(sel, socks, i, 300)
            proc.result(timeout=120)
    finally:
        sel.close()
    record(f"fork_soak[{kind(selector_class)}]", forks=forks + forks // 3 + 1,
           seconds=round(time.monotonic() - t0, 1))
