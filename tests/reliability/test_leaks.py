"""Reliability: leaks, garbage collection and re-entrancy.

* Long register/modify/select/unregister cycles (with failing calls mixed in) keep RSS flat
  (from /proc/self/statm, after a warm-up), keep Python's allocated block count flat, keep
  the process's open fds flat, and leave the reference counts of the ``data`` objects and
  file objects at their baseline. Fast: 50,000 cycles per backend; soak: 1,000,000 x
  ``RSELECTORS_SOAK_SCALE``.
* Selector churn (create, register, select, close or just drop) leaks neither fds nor memory.
* Reference cycles through ``key.data`` are collected (weakref test) in asyncio's real shape
  (an unclosed ``SelectorEventLoop`` whose reader handles point back at the loop), through the
  ``get_map()`` view's iterator and its ``items()``/``values()`` views, and through a Python
  subclass instance attribute (tests/test_gc.py covers the simpler shapes).
* Re-entrancy: a ``data`` object's ``__del__`` that uses the selector while the selector drops
  it (modify, unregister, close, GC clearing the selector), user ``__ne__``/``fileno``/``__and__``
  /``__repr__`` that change the selector in the middle of a call: no deadlock (bounded by
  pytest-timeout), no crash, no panic, and a consistent selector afterwards.
"""

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
import warnings
import weakref

import pytest
from _support import EVENT_BOTH, EVENT_READ, EVENT_WRITE, FilenoObj, kind, socketpair

from ._reliability import UNDER_MEMCHECK, full_collect, record, rss_bytes, soak_count

pytestmark = pytest.mark.timeout(300)

CYCLES_FAST = 50_000
CYCLES_SOAK = 1_000_000
WARMUP = 5_000


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


#: Counts this process's fds and memory in /proc (Linux).
needs_proc = pytest.mark.skipif(
    sys.platform == "win32" or not os.path.isdir("/proc/self/fd"),
    reason="counts this process's fds and memory in /proc",
)


@pytest.fixture(autouse=True)
def _gc_enabled():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class Data:
    __slots__ = ("__weakref__", "n")

    def __init__(self, n):
        self.n = n


def _cycles(sel, socks, datas, n):
    """n cycles of register/modify/select/get_key/unregister, a socket closed before its
    unregister, failing calls every 8th."""
    a, b, w = socks
    d1, d2 = datas
    bad = object()
    for i in range(n):
        sel.register(a, EVENT_READ, d1)
        sel.register(b, EVENT_WRITE, d2)
        sel.modify(a, EVENT_BOTH, d2)
        sel.modify(b, EVENT_BOTH, d1)
        if len(sel.select(0)) != 2:
            raise AssertionError("both sockets are writable")
        sel.get_key(a)
        sel.get_map()[b]
        if i % 8 == 0:
            for call in (
                lambda: sel.register(a, EVENT_READ, d1),
                lambda: sel.modify(w, EVENT_READ, d1),
                lambda: sel.register(bad, EVENT_READ, d1),
                lambda: sel.register(a, 0, d1),
                lambda: sel.select("x"),
                lambda: sel.unregister(w),
            ):
                try:
                    call()
                except (KeyError, ValueError, TypeError):
                    pass
                else:
                    raise AssertionError("the call should have failed")
            list(sel.get_map().items())
        sel.unregister(a)
        sel.unregister(b)
        # closed before unregister (the stdlib tolerates that order)
        c, c_peer = socketpair()
        sel.register(c, EVENT_READ, d1)
        c.close()
        sel.unregister(c)
        c_peer.close()


def _leak_run(selector_class, cycles):
    sel = selector_class()
    a, a_peer = socketpair()
    b, b_peer = socketpair()
    w, w_peer = socketpair()
    socks = (a, b, w)
    datas = (Data(1), Data(2))
    try:
        _cycles(sel, socks, datas, WARMUP)
        full_collect()
        refs = [sys.getrefcount(x) for x in (*datas, *socks)]
        blocks = sys.getallocatedblocks()
        fds = _open_fds()
        rss = rss_bytes()
        t0 = time.monotonic()
        _cycles(sel, socks, datas, cycles)
        elapsed = time.monotonic() - t0
        full_collect()
        rss_growth = rss_bytes() - rss
        block_growth = sys.getallocatedblocks() - blocks
        assert [sys.getrefcount(x) for x in (*datas, *socks)] == refs
        assert _open_fds() == fds
        record(f"leaks[{kind(selector_class)}]", cycles=cycles,
               calls=cycles * 9 + (cycles // 8 + 1) * 7,
               rss_growth_kib=rss_growth // 1024, pymalloc_block_growth=block_growth,
               seconds=round(elapsed, 2))
        # a leak of one small object per cycle would be >= cycles blocks / >= 32 B x cycles
        assert block_growth < 200, f"{block_growth} Python blocks still allocated"
        if not UNDER_MEMCHECK:
            assert rss_growth < max(2 << 20, cycles * 4), f"RSS grew by {rss_growth} bytes"
    finally:
        sel.close()
        for s in (a, a_peer, b, b_peer, w, w_peer):
            s.close()


@needs_proc
def test_no_leak_register_modify_select_unregister(selector_class):
    _leak_run(selector_class, CYCLES_FAST)


@needs_proc
@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_no_leak_soak(selector_class):
    _leak_run(selector_class, soak_count(CYCLES_SOAK, minimum=CYCLES_FAST))


def _selector_churn(selector_class, n, close):
    a, a_peer = socketpair()
    data = Data(0)
    try:
        for _ in range(200):  # warm-up
            s = selector_class()
            s.register(a, EVENT_WRITE, data)
            s.close()
        full_collect()
        fds, rss, refs = _open_fds(), rss_bytes(), sys.getrefcount(data)
        blocks = sys.getallocatedblocks()
        for i in range(n):
            s = selector_class()
            s.register(a, EVENT_WRITE, data)
            assert len(s.select(0)) == 1
            if i % 2:
                s.wakeup()
                s.select(0.001)
            if close:
                s.close()
            del s
        full_collect()
        assert _open_fds() == fds
        assert sys.getrefcount(data) == refs
        growth = rss_bytes() - rss
        block_growth = sys.getallocatedblocks() - blocks
        record(f"selector_churn[{kind(selector_class)},{'close' if close else 'drop'}]",
               selectors=n, rss_growth_kib=growth // 1024, pymalloc_block_growth=block_growth)
        assert block_growth < 200
        if not UNDER_MEMCHECK:
            assert growth < 2 << 20, growth
    finally:
        a.close()
        a_peer.close()


@needs_proc
@pytest.mark.parametrize("close", [True, False], ids=["close", "drop"])
def test_selector_churn_no_leak(selector_class, close):
    _selector_churn(selector_class, 5_000, close)


@needs_proc
@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("close", [True, False], ids=["close", "drop"])
def test_selector_churn_soak(selector_class, close):
    _selector_churn(selector_class, soak_count(200_000, minimum=5_000), close)


# --- cycles -------------------------------------------------------------------------------------

class Handle:
    def __init__(self, target):
        self.target = target


def _collected(make):
    """``make()`` returns a weakref to the selector of a cycle it built and dropped."""
    ref = make()
    full_collect()
    return ref() is None


def test_asyncio_unclosed_loop_cycle_is_collected(selector_class):
    """data (asyncio Handle) -> callback -> loop -> selector, loop never closed."""

    def make():
        sel = selector_class()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            loop = asyncio.SelectorEventLoop(sel)
        rd, wr = socketpair()
        loop.add_reader(rd, loop.time)
        loop.add_writer(wr, loop.stop)
        loop.run_forever()  # one iteration: the writer stops it
        loop._keep = (rd, wr)  # the sockets live as long as the loop
        ref = weakref.ref(sel)
        del sel, loop, rd, wr
        return ref

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        assert _collected(make)


def test_cycle_through_map_iterator_is_collected(selector_class):
    def make():
        sel = selector_class()
        a, b = socketpair()
        holder = Handle(None)
        sel.register(a, EVENT_READ, holder)
        sel.register(b, EVENT_WRITE, Handle(None))
        it = iter(sel.get_map())
        next(it)
        holder.target = it  # data -> map iterator -> selector -> key -> data
        sel.get_key(b).data.target = [sel.get_map().items(), sel.get_map().values(),
                                      iter(sel.get_map().values())]
        holder.socks = (a, b)
        ref = weakref.ref(sel)
        return ref

    assert _collected(make)


def test_cycle_through_subclass_attribute_and_map(selector_class):
    class Loop(selector_class):
        pass

    def make():
        sel = Loop()
        a, b = socketpair()
        sel.handlers = {"map": sel.get_map(), "it": iter(sel.get_map())}
        sel.register(a, EVENT_READ, Handle(sel.handlers))
        sel.socks = (a, b)
        return weakref.ref(sel)

    assert _collected(make)


def run_isolated(code, timeout=120):
    """Runs ``code`` in a fresh interpreter (the module under test importable as in this
    run); a crash there fails one test instead of killing the whole session."""
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # for _support
    # (on sys.path from the code, not PYTHONPATH, which an isolated interpreter ignores)
    code = f"import sys; sys.path.insert(0, {tests!r})\n" + code
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], check=False,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        sig = -proc.returncode if proc.returncode < 0 else None
        what = f"killed by signal {sig}" if sig else f"exit status {proc.returncode}"
        pytest.fail(f"isolated run {what}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


PRELUDE = """
import gc, os, socket, sys, weakref
from _support import TARGET
cls = getattr(TARGET, {name!r})
"""


@needs_proc
def test_many_cycles_all_collected(selector_class):
    """1,000 selectors in cycles (data, attribute, map view), then collections: all gone,
    their fds released, the shared socket's refcount back. (In a subprocess: on CPython
    3.11 a collection during construction of a selector crashed, see below.)"""
    out = run_isolated(PRELUDE.format(name=kind(selector_class)) + """
class Handle:
    def __init__(self, target):
        self.target = target
a, b = socket.socketpair()
gc.collect()
fds, a_refs = len(os.listdir("/proc/self/fd")), sys.getrefcount(a)
refs = []
for _ in range(1000):
    sel = cls()
    sel.register(a, 1, Handle(sel))
    sel.self_ref = Handle(sel)
    sel.view = sel.get_map()
    refs.append(weakref.ref(sel))
    del sel
for _ in range(3):
    gc.collect()
print(sum(r() is not None for r in refs), len(os.listdir("/proc/self/fd")) - fds,
      sys.getrefcount(a) - a_refs)
""")
    assert out.split() == ["0", "0", "0"], out


@pytest.mark.parametrize("extra", [0, 1, 2, 3])
def test_gc_during_construction_does_not_crash(selector_class, extra):
    """A cyclic collection that runs while a selector is being constructed (here forced by a
    gen-0 threshold of 1; in real programs, whenever the allocation count crosses the
    threshold at that moment) must not traverse a half-built selector. Regression: CPython
    3.11's object_new creates the instance __dict__ of a #[pyclass(dict)] eagerly, that
    allocation ran a collection, and __traverse__ dereferenced the zeroed state: SIGSEGV."""
    out = run_isolated(PRELUDE.format(name=kind(selector_class)) + f"""
keep = []
gc.collect()
gc.set_threshold(1)
for i in range(8):
    for _ in range({extra}):
        keep.append([])
    keep.append(cls())
    keep.append(cls().get_map())
gc.set_threshold(700)
print("ok")
""")
    assert out.strip() == "ok"


# --- re-entrancy --------------------------------------------------------------------------------

class Reentrant:
    """A data object whose __del__ uses the selector."""

    log: "list[tuple[str, str]]" = []  # noqa: RUF012 - shared on purpose

    def __init__(self, sel, spare, action):
        self.sel = sel
        self.spare = spare
        self.action = action

    def __del__(self):
        sel = self.sel
        try:
            if self.action == "register":
                sel.register(self.spare, EVENT_READ, "from __del__")
                sel.unregister(self.spare)
            elif self.action == "everything":
                sel.register(self.spare, EVENT_WRITE)
                sel.modify(self.spare, EVENT_BOTH, "m")
                sel.select(0)
                list(sel.get_map().items())
                sel.get_key(self.spare)
                sel.unregister(self.spare)
            elif self.action == "close":
                sel.close()
            Reentrant.log.append(("ok", self.action))
        except Exception as exc:  # noqa: BLE001 - recorded, __del__ must not raise
            Reentrant.log.append((type(exc).__name__, self.action))


@pytest.mark.parametrize("action", ["register", "everything", "close"])
@pytest.mark.parametrize("trigger", ["modify", "unregister", "close", "gc_clear"])
def test_del_reentering_the_selector(selector_class, action, trigger):
    """The selector drops a data object whose __del__ uses the same selector."""
    Reentrant.log = []
    a, a_peer = socketpair()
    spare, spare_peer = socketpair()
    other, other_peer = socketpair()
    sel = selector_class()
    try:
        sel.register(other, EVENT_WRITE, "other")
        sel.register(a, EVENT_READ, Reentrant(sel, spare, action))
        if trigger == "modify":
            sel.modify(a, EVENT_READ, "replaced")  # the old key (and data) are dropped
        elif trigger == "unregister":
            sel.unregister(a)  # the returned key is dropped at once
        elif trigger == "close":
            sel.close()
        else:
            sel.cycle = Handle(sel)  # make the selector garbage in a cycle
            ref = weakref.ref(sel)
            sel = None
            full_collect()
            assert ref() is None
        full_collect()
        assert Reentrant.log, "__del__ did not run"
        outcome = Reentrant.log[0][0]
        closed = trigger in ("close", "gc_clear") or action == "close"
        if sel is not None and sel.get_map() is not None:
            # a consistent, usable selector: the map matches the kernel
            m = dict(sel.get_map().items())
            ready = {k.fd for k, _e in sel.select(0)}
            assert ready == {fd for fd, k in m.items() if k.events & EVENT_WRITE}
            assert spare.fileno() not in m
        if not closed:
            assert outcome == "ok", Reentrant.log
    finally:
        if sel is not None:
            sel.close()
        for s in (a, a_peer, spare, spare_peer, other, other_peer):
            s.close()


class UnregistersOnCompare:
    """``data != other`` (modify compares data) unregisters the fd being modified."""

    def __init__(self, sel, target):
        self.sel = sel
        self.target = target
        self.fired = 0

    def __ne__(self, other):
        if not self.fired:
            self.fired += 1
            self.sel.unregister(self.target)
        return True

    def __eq__(self, other):
        return not self.__ne__(other)

    __hash__ = object.__hash__


def test_modify_whose_compare_unregisters(selector_class):
    """modify() compares data with != in user code that unregisters the fd: KeyError (it is
    not registered any more) or a clean success, never a resurrected or half registration."""
    a, a_peer = socketpair()
    sel = selector_class()
    try:
        old = UnregistersOnCompare(sel, a)
        sel.register(a, EVENT_READ, old)
        try:
            result = sel.modify(a, EVENT_READ, "new data")
        except KeyError as exc:
            assert exc.args == (f"{a!r} is not registered",)
            result = None
        m = dict(sel.get_map().items())
        if result is None:
            assert m == {}
            assert sel.select(0) == []
        else:
            assert m == {a.fileno(): result}
        # either way the fd registers cleanly again (no kernel leftover)
        sel.register(a, EVENT_WRITE)
        assert [e for _k, e in sel.select(0)] == [EVENT_WRITE]
    finally:
        sel.close()
        a.close()
        a_peer.close()


class ReentrantFileno(FilenoObj):
    """fileno() changes the selector: registers another socket first."""

    def __init__(self, fd, sel, other):
        super().__init__(fd)
        self.sel = sel
        self.other = other

    def fileno(self):
        if self.other is not None:
            other, self.other = self.other, None
            self.sel.register(other, EVENT_WRITE, "from fileno")
        return super().fileno()


def test_fileno_that_registers(selector_class):
    a, a_peer = socketpair()
    b, b_peer = socketpair()
    sel = selector_class()
    try:
        obj = ReentrantFileno(a.fileno(), sel, b)
        key = sel.register(obj, EVENT_WRITE, "obj")
        assert sel.get_key(b).data == "from fileno"
        assert sorted(k.data for k, _e in sel.select(0)) == ["from fileno", "obj"]
        assert sel.unregister(obj) is key
        # a fileno() that registers the same fd number first: already registered
        c, c_peer = socketpair()
        obj2 = ReentrantFileno(c.fileno(), sel, c)
        with pytest.raises(KeyError):
            sel.register(obj2, EVENT_READ)
        assert sel.get_key(c).data == "from fileno"
        c.close()
        c_peer.close()
    finally:
        sel.close()
        for s in (a, a_peer, b, b_peer):
            s.close()


class ReentrantMask:
    """An events mask whose ``&`` unregisters everything it can."""

    def __init__(self, value, sel):
        self.value = value
        self.sel = sel

    def __and__(self, other):
        for key in list(self.sel.get_map().values()):
            if key.data == "victim":
                self.sel.unregister(key.fileobj)
        return self.value & other

    __rand__ = __and__

    def __bool__(self):
        return bool(self.value)

    def __eq__(self, other):
        return self.value == other

    def __ne__(self, other):
        return self.value != other

    __hash__ = object.__hash__


def test_events_operator_that_unregisters(selector_class):
    a, a_peer = socketpair()
    v, v_peer = socketpair()
    sel = selector_class()
    try:
        sel.register(v, EVENT_WRITE, "victim")
        key = sel.register(a, ReentrantMask(EVENT_WRITE, sel), "a")
        assert v.fileno() not in sel.get_map()
        assert [k for k, _e in sel.select(0)] == [key]
        sel.register(v, EVENT_WRITE, "victim")
        # modify of `a` itself, whose events object unregisters nothing relevant
        k2 = sel.modify(a, ReentrantMask(EVENT_READ, sel), "a2")
        assert k2.data == "a2"
        assert v.fileno() not in sel.get_map()
        assert sel.select(0) == []
    finally:
        sel.close()
        for s in (a, a_peer, v, v_peer):
            s.close()


class ReentrantRepr(FilenoObj):
    def __init__(self, fd, sel, victim):
        super().__init__(fd)
        self.sel = sel
        self.victim = victim

    def __repr__(self):
        if self.victim is not None and self.victim in self.sel.get_map():
            self.sel.unregister(self.victim)
        return "<ReentrantRepr>"


def test_repr_in_error_message_that_unregisters(selector_class):
    """The KeyError message calls repr(fileobj); a repr that unregisters is tolerated."""
    a, a_peer = socketpair()
    v, v_peer = socketpair()
    sel = selector_class()
    try:
        sel.register(a, EVENT_READ)
        sel.register(v, EVENT_READ)
        with pytest.raises(KeyError, match="already registered"):
            sel.register(ReentrantRepr(a.fileno(), sel, v), EVENT_READ)
        assert set(sel.get_map()) == {a.fileno()}
        assert sel.select(0) == []
        sel.register(v, EVENT_WRITE)  # no kernel leftover
    finally:
        sel.close()
        for s in (a, a_peer, v, v_peer):
            s.close()


def test_del_reentrance_from_another_thread_during_select(selector_class):
    """While one thread is blocked in select(), another drops data whose __del__ registers
    and unregisters: no deadlock, the waiter sees the registration it should."""
    Reentrant.log = []
    a, a_peer = socketpair()
    spare, spare_peer = socketpair()
    sel = selector_class()
    out = []
    waiter = threading.Thread(target=lambda: out.append(sel.select(5)), daemon=True)
    try:
        sel.register(a, EVENT_READ, Reentrant(sel, spare, "everything"))
        waiter.start()
        time.sleep(0.05)
        sel.modify(a, EVENT_READ, None)  # drops the Reentrant: __del__ changes the selector
        a_peer.send(b"x")
        waiter.join(10)
        assert not waiter.is_alive()
        assert Reentrant.log == [("ok", "everything")]
        # spare is writable while __del__ has it registered: a waiter woken then reports it,
        # alone if it returns before a_peer's byte (seen under Wine, whose wake-ups are slow)
        assert [k.fd for k, _e in out[0]] in ([a.fileno()], [spare.fileno(), a.fileno()],
                                              [a.fileno(), spare.fileno()], [spare.fileno()],
                                              [])
        assert set(sel.get_map()) == {a.fileno()}
    finally:
        sel.close()
        for s in (a, a_peer, spare, spare_peer):
            s.close()
