"""The cases: the micro cases' selectors and statements, and the plan of every case.

A micro case class is built once per worker (it allocates the shared fds) and its ``make(mod,
cls)`` builds one selector of an implementation and returns ``(selector, namespace, stmt,
ops_per_stmt)``: ``stmt`` is timed with the names of ``namespace`` as fast locals and the
per-op figure is elapsed / (iterations * UNROLL * ops_per_stmt).

With the C floor, ``kernel(floor, backend, floor_sel)`` gives the case's bare system calls
as a statement of the same shape, ``(namespace, stmt, ops_per_stmt)``, run by the floor's
``bare_*`` functions ``BARE`` times per call (so the Python call costs nothing per op), or
None if the case makes no system call: the kernel's share of every implementation's time.

A plan entry (a "spec") is a dict ``{"kind", "case", "backend", "params"}``; kinds: micro,
memory, timeout, echo.
"""

import fnmatch

from .common import EVENT_READ, EVENT_WRITE, FD_SETSIZE, nofile_hard, raise_nofile
from .echo import SERVER_KINDS

SCALE_N = 100_000
MEMORY_REGISTRATIONS = 100_000


class CaseError(Exception):
    """A case cannot run here (reported as skipped) or failed its sanity check."""


def _check_select_n(backend, n):
    if backend == "select" and n >= FD_SETSIZE:
        raise CaseError(f"skipped: SelectSelector with N={n} needs fds >= FD_SETSIZE")


def _check_fd_limit(pool, backend):
    if backend == "select" and pool.max_fd() >= FD_SETSIZE:
        raise CaseError(f"skipped: fd {pool.max_fd()} >= FD_SETSIZE")


class SelectReady:
    """``select(0)`` with K ready fds among N registered; cost per ready event."""

    unit = "ns/event"

    def __init__(self, pool, backend, p):
        self.k, self.n = p["K"], p["N"]
        _check_select_n(backend, self.n)
        mode = p.get("mode", "write")
        need = 2 * self.k + self.n + 64
        distinct = backend != "select" and need < raise_nofile(need)
        if not distinct:
            raise_nofile(self.n + 64)
        self.ready, _, self.events = pool.ready(self.k, mode, distinct)
        self.idle = pool.idle(self.n - self.k)
        self.fds = "socketpairs" if distinct else "dups"
        _check_fd_limit(pool, backend)

    def make(self, mod, cls):
        sel = cls()
        for fd in self.ready:
            sel.register(fd, self.events)
        for fd in self.idle:
            sel.register(fd, EVENT_READ)
        got = sel.select(0)
        if len(got) != self.k or any(mask != self.events for _key, mask in got):
            raise CaseError(
                f"sanity check failed: {len(got)} ready (expected {self.k}), masks {sorted({m for _k, m in got})}"
            )
        return sel, {"s": sel.select}, "s(0)", self.k

    def kernel(self, floor, backend, floor_sel):
        write = self.events == EVENT_WRITE
        reads = self.idle + ([] if write else self.ready)
        bare = _bare_wait(floor, backend, floor_sel, reads, self.ready if write else [], self.n)
        return bare and (*bare, BARE * self.k)


class SelectIdle:
    """``select(0)`` with nothing ready and N registered; cost per call."""

    unit = "ns/call"

    def __init__(self, pool, backend, p):
        self.n = p["N"]
        _check_select_n(backend, self.n)
        raise_nofile(self.n + 64)
        self.idle = pool.idle(self.n)
        _check_fd_limit(pool, backend)

    def make(self, mod, cls):
        sel = cls()
        for fd in self.idle:
            sel.register(fd, EVENT_READ)
        if sel.select(0):
            raise CaseError("sanity check failed: something is ready")
        return sel, {"s": sel.select}, "s(0)", 1

    def kernel(self, floor, backend, floor_sel):
        bare = _bare_wait(floor, backend, floor_sel, self.idle, [], self.n)
        return bare and (*bare, BARE)


OTHERS = 100  # registrations already in the selector for the per-fd cases

#: system calls per call of a floor ``bare_*`` function in a kernel statement
BARE = 100


def _bare_wait(floor, backend, floor_sel, reads, writes, maxevents):
    """The kernel statement of a ``select(0)`` over ``reads`` (EVENT_READ) and ``writes``
    (EVENT_WRITE): one ``epoll_wait`` on the floor's epoll object (which holds the same
    registrations; ``maxevents`` as the stdlib asks), or one ``poll``/``select`` of those fds."""
    if backend == "epoll":
        ns = {"k": floor.bare_epoll_wait, "e": floor_sel.fileno(), "m": max(1, maxevents)}
        return ns, f"k(e, m, {BARE})"
    bare = {"poll": floor.bare_poll, "select": floor.bare_select}.get(backend)
    if bare is None:
        return None
    return {"k": bare, "r": list(reads), "w": list(writes)}, f"k(r, w, {BARE})"


def _fd(obj):
    return obj if isinstance(obj, int) else obj.fileno()


def _fileobj(pool, kind):
    a, _b = pool.socketpair()
    return a if kind == "sock" else a.fileno()


class _OneFdCase:
    """A case on one fd, with ``OTHERS`` other registrations already in the selector."""

    def __init__(self, pool, backend, p):
        self.obj = _fileobj(pool, p["obj"])
        self.others = pool.idle(OTHERS)

    def selector(self, cls):
        """A selector of ``cls`` holding the others and ``self.obj`` (for EVENT_READ)."""
        sel = cls()
        for fd in self.others:
            sel.register(fd, EVENT_READ)
        sel.register(self.obj, EVENT_READ)
        return sel

    def _bare_ctl(self, floor, backend, floor_sel, pair, ops):
        """The kernel statement of ``bare_epoll_ctl`` ``pair`` (0: ADD + DEL, 1: MOD twice)
        on ``self.obj``, ``ops`` calls of the case per statement; poll and select make no
        system call to register or modify."""
        if backend != "epoll":
            return None
        ns = {"k": floor.bare_epoll_ctl, "e": floor_sel.fileno(), "f": _fd(self.obj)}
        return ns, f"k(e, f, {pair}, {BARE})", ops


class RegisterUnregister(_OneFdCase):
    """``register(x, EVENT_READ)`` + ``unregister(x)`` of one fd (``OTHERS`` already there)."""

    unit = "ns/pair"

    def make(self, mod, cls):
        sel = self.selector(cls)
        sel.unregister(self.obj)
        ns = {"r": sel.register, "u": sel.unregister, "o": self.obj}
        return sel, ns, "r(o, 1); u(o)", 1

    def kernel(self, floor, backend, floor_sel):
        return self._bare_ctl(floor, backend, floor_sel, 0, BARE)


class Modify(_OneFdCase):
    """``modify(x, EVENT_READ|EVENT_WRITE)`` then ``modify(x, EVENT_READ)``; cost per modify."""

    unit = "ns/op"

    def make(self, mod, cls):
        sel = self.selector(cls)
        key = sel.modify(self.obj, EVENT_READ | EVENT_WRITE)
        if key.events != EVENT_READ | EVENT_WRITE:
            raise CaseError(f"sanity check failed: modify returned {key!r}")
        sel.modify(self.obj, EVENT_READ)
        ns = {"m": sel.modify, "o": self.obj}
        return sel, ns, "m(o, 3); m(o, 1)", 2

    def kernel(self, floor, backend, floor_sel):
        return self._bare_ctl(floor, backend, floor_sel, 1, 2 * BARE)


LOOKUP_STMTS = {"get_key": "g(o)", "map_get": "gm().get(o)", "map_get_cached": "mg(o)"}


class Lookup:
    """``get_key(x)``, ``get_map().get(x)`` or a cached ``m.get(x)`` (``OTHERS`` registered)."""

    unit = "ns/op"

    def __init__(self, pool, backend, p):
        self.case = p["case"]
        self.obj = _fileobj(pool, p["obj"])
        self.others = pool.idle(OTHERS)

    def make(self, mod, cls):
        sel = cls()
        half = len(self.others) // 2
        for fd in self.others[:half]:
            sel.register(fd, EVENT_READ)
        key = sel.register(self.obj, EVENT_READ, "data")
        for fd in self.others[half:]:
            sel.register(fd, EVENT_READ)
        if sel.get_key(self.obj) != key or sel.get_map().get(self.obj) != key:
            raise CaseError("sanity check failed: lookup did not return the key")
        ns = {"g": sel.get_key, "gm": sel.get_map, "mg": sel.get_map().get, "o": self.obj}
        return sel, ns, LOOKUP_STMTS[self.case], 1

    def kernel(self, floor, backend, floor_sel):
        return None  # a lookup makes no system call


#: ``select()``'s timeout in the lifecycle case: ``0``, or a wait that may block (the fd is
#: ready, so it returns at once)
LIFE_WAITS = {"0": "0", "t": "1.0"}


class Lifecycle:
    """A selector's whole life: made, one ready socket registered (EVENT_READ, one byte
    pending), ``select(0)`` (``wait=0``) or ``select(1.0)`` (``wait=t``, returns at once)
    and closed, as code that makes a selector per wait does; cost per life."""

    unit = "ns/life"

    def __init__(self, pool, backend, p):
        self.timeout = LIFE_WAITS[p["wait"]]
        _fds, (self.obj,), _events = pool.ready(1, "read")

    def make(self, mod, cls):
        with cls() as sel:
            sel.register(self.obj, EVENT_READ)
            got = sel.select(float(self.timeout))
        if [mask for _key, mask in got] != [EVENT_READ]:
            raise CaseError(f"sanity check failed: {got!r}")
        stmt = f"with C() as s: s.register(o, 1); s.select({self.timeout})"
        return cls(), {"C": cls, "o": self.obj}, stmt, 1

    def kernel(self, floor, backend, floor_sel):
        fd = self.obj.fileno()
        if backend == "epoll":
            ms = 0 if self.timeout == "0" else 1000
            return {"k": floor.bare_epoll_life, "f": fd}, f"k(f, {ms}, {BARE})", BARE
        bare = _bare_wait(floor, backend, None, [fd], [], 1)
        return bare and (*bare, BARE)


class MakeClose:
    """The part of a life that is the selector's own: made and closed with nothing registered,
    by ``close()`` (``how=close``) or by ``with`` (``how=with``: the stdlib's ``__exit__``
    closes through ``self.close()``); cost per selector."""

    unit = "ns/life"

    def __init__(self, pool, backend, p):
        self.how = p["how"]

    def make(self, mod, cls):
        stmt = "C().close()" if self.how == "close" else "with C(): pass"
        return cls(), {"C": cls}, stmt, 1

    def kernel(self, floor, backend, floor_sel):
        if backend == "epoll":
            return {"k": floor.bare_epoll_life}, f"k(-1, 0, {BARE})", BARE
        return None  # poll and select make no system call for it


class WaitOne:
    """Through a real caller's pattern: code that makes a selector for each wait on one socket
    (psycopg's ``wait_selector`` and many "wait for this socket" helpers), reaching the
    implementation as ``rselectors.install()`` makes it reach them, by looking up
    ``selectors.DefaultSelector`` at call time. One op is a round trip on a socketpair: the
    peer's reply written, the wait (a new ``DefaultSelector``, register, ``select(1.0)``,
    close) and the read."""

    unit = "ns/trip"

    def __init__(self, pool, backend, p):
        self.sock, self.peer = pool.socketpair()

    def make(self, mod, cls):
        import types

        module = types.SimpleNamespace(DefaultSelector=cls, EVENT_READ=EVENT_READ)
        ns = {"w": wait_readable, "m": module, "a": self.sock, "p": self.peer}
        stmt = "p.send(b'x'); w(m, a, 1.0); a.recv(1)"
        return cls(), ns, stmt, 1

    def kernel(self, floor, backend, floor_sel):
        return None


def wait_readable(selectors_module, sock, timeout):
    """Waits until ``sock`` is readable with a selector made for this one wait, from
    ``selectors_module.DefaultSelector`` as the caller finds it at call time."""
    with selectors_module.DefaultSelector() as sel:
        sel.register(sock, selectors_module.EVENT_READ)
        while not sel.select(timeout):
            pass


class MpWait:
    """Through a real caller: ``multiprocessing.connection.wait`` on N connections (one
    ready), with its selector class (``PollSelector``, bound by the stdlib at import) that of
    the implementation, as when ``rselectors`` is imported as ``selectors`` before
    ``multiprocessing.connection``. One op is one ``wait``."""

    unit = "ns/call"

    def __init__(self, pool, backend, p):
        from multiprocessing import Pipe

        self.pipes = [Pipe(duplex=False) for _ in range(p["N"])]
        self.pipes[0][1].send_bytes(b"x")
        self.conns = [r for r, _w in self.pipes]

    def make(self, mod, cls):
        import multiprocessing.connection as mpc
        import types

        # The stdlib's own wait(), with `_WaitSelector` (read at call time) the class measured.
        wait = types.FunctionType(
            mpc.wait.__code__, {**vars(mpc), "_WaitSelector": cls}, "wait", mpc.wait.__defaults__
        )
        if wait(self.conns, 1.0) != self.conns[:1]:
            raise CaseError("sanity check failed: wait() did not return the ready connection")
        return cls(), {"w": wait, "c": self.conns}, "w(c, 1.0)", 1

    def kernel(self, floor, backend, floor_sel):
        return None


MICRO_CASES = {
    "select_ready": SelectReady,
    "select_ready_read": SelectReady,
    "select_idle": SelectIdle,
    "register_unregister": RegisterUnregister,
    "modify": Modify,
    "get_key": Lookup,
    "map_get": Lookup,
    "map_get_cached": Lookup,
    "scale": SelectReady,
    "lifecycle": Lifecycle,
    "make_close": MakeClose,
    "caller_wait_one": WaitOne,
    "caller_mp_wait": MpWait,
}


def scale_n():
    """N of the big ``scale`` case: ``SCALE_N``, or less if RLIMIT_NOFILE's hard limit is lower
    (room for 100 ready socketpairs and a margin)."""
    hard = nofile_hard()
    if SCALE_N + 2 * 100 + 64 <= hard:
        return SCALE_N
    return max(1000, (hard - 2 * 100 - 64) // 1000 * 1000)


def case_id(spec):
    parts = [spec["case"], spec["backend"]]
    parts += [f"{k}={v}" for k, v in spec["params"].items() if k not in ("case", "mode")]
    return "/".join(parts)


def fmt_params(spec):
    p = spec["params"]
    if spec["kind"] == "timeout":
        return "t={}us".format(p["t_us"])
    return " ".join(
        f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}"
        for k, v in p.items()
        if k not in ("case", "mode")
    )


def plan(backends):
    """All cases, in run order: a list of spec dicts."""
    specs = []

    def add(kind, case, backend, **params):
        specs.append({"kind": kind, "case": case, "backend": backend, "params": params})

    for b in backends:
        for k in (100, 1000):
            for n in sorted({k, 1000, 10_000}):
                if n < k or (b == "select" and n >= FD_SETSIZE):
                    continue
                add("micro", "select_ready", b, K=k, N=n)
        for k in (100, 1000):
            if not (b == "select" and k >= FD_SETSIZE):
                add("micro", "select_ready_read", b, K=k, N=k, mode="read")
    for b in backends:
        for n in (1, 100, 1000, 10_000):
            if b == "select" and n >= FD_SETSIZE:
                continue
            add("micro", "select_idle", b, N=n)
    for b in backends:
        for obj in ("sock", "fd"):
            add("micro", "register_unregister", b, obj=obj)
        for obj in ("sock", "fd"):
            add("micro", "modify", b, obj=obj)
    for b in backends:
        for wait in LIFE_WAITS:
            add("micro", "lifecycle", b, wait=wait)
        for how in ("close", "with"):
            add("micro", "make_close", b, how=how)
    if "epoll" in backends:
        add("micro", "caller_wait_one", "epoll")
    if "poll" in backends:
        for n in (1, 100):
            add("micro", "caller_mp_wait", "poll", N=n)
    for case in ("get_key", "map_get", "map_get_cached"):
        for b in backends:
            for obj in ("fd", "sock"):
                add("micro", case, b, obj=obj)
    for b in ("epoll", "kqueue"):
        if b in backends:
            add("micro", "scale", b, K=100, N=100)
            add("micro", "scale", b, K=100, N=scale_n())
    for b in backends:
        add("memory", "memory", b, registrations=MEMORY_REGISTRATIONS)
    for b in backends:
        for t in (100, 250, 1000):
            add("timeout", "timeout", b, t_us=t)
    for kind in SERVER_KINDS:
        add("echo", "echo_" + kind.replace("-", "_"), "default")
    return specs


def _matches(spec, pat):
    """Does a ``--cases`` pattern select this spec?

    A pattern with ``*?[`` is a glob over the whole id (``select_ready/*/K=100/*``) or the case
    name. Otherwise it is a run of whole ``/``-separated parts of ``KIND/CASE/BACKEND/PARAMS``:
    ``select_ready``, ``epoll``, ``select_idle/poll``, ``K=100/N=100``, ``memory``, ``echo``.
    """
    cid = case_id(spec)
    if any(c in pat for c in "*?["):
        return fnmatch.fnmatchcase(cid, pat) or fnmatch.fnmatchcase(spec["case"], pat)
    parts = [spec["kind"], *cid.split("/")]
    want = pat.strip("/").split("/")
    return any(parts[i : i + len(want)] == want for i in range(len(parts) - len(want) + 1))


def select_cases(specs, patterns):
    """Keep the specs that match any of the patterns (all of them without patterns)."""
    if not patterns:
        return specs
    return [s for s in specs if any(_matches(s, p) for p in patterns)]
