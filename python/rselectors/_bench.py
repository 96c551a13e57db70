"""Benchmark engine: two ``selectors`` implementations side by side, interleaved.

Run it as ``python -m rselectors bench``, ``python benches/compare.py`` or
``python path/to/_bench.py``; ``--help`` lists the options.

Design:

* Only the stdlib is imported at module level. The implementations under test are imported
  lazily by module name (``--impl-a selectors --impl-b rselectors`` by default), so any two
  modules with the ``selectors`` API can be compared (the stdlib against itself gives ratios
  close to 1.0, which is how the harness checks its own noise).
* Every micro case runs in a fresh worker process that builds one selector per
  implementation (same backend class name on both sides, same file descriptors) and times
  them **interleaved**: repeat ``i`` runs A then B, repeat ``i + 1`` runs B then A, and so on.
  Each repeat is an unrolled loop of ``n`` iterations (``n`` calibrated so that one repeat takes
  about ``--target-ms``), timed with ``time.perf_counter_ns`` with the GC disabled, after a
  warm-up. The reported figure is the median of the per-operation times of the repeats.
* Memory, sub-millisecond timeout overshoot and the end-to-end echo servers run in their own
  worker processes too (a fresh one per implementation for memory; servers and load clients
  are separate processes).

Workers are this same file started with ``python -c <bootstrap> this_file MODE ...``.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import json
import math
import os
import platform
import select as _select
import signal
import socket
import statistics
import subprocess
import sys
import time

EVENT_READ = 1
EVENT_WRITE = 2

#: backend short name -> selector class name (same name in both implementations)
BACKENDS = {
    "epoll": "EpollSelector",
    "poll": "PollSelector",
    "select": "SelectSelector",
    "kqueue": "KqueueSelector",
}

#: ``select()`` refuses fds >= FD_SETSIZE; 1024 on Linux and macOS.
FD_SETSIZE = 1024

#: timers for the micro cases: wall time (the default) or this thread's CPU time, which does not
#: count the time the process waits for a CPU on a busy machine (it still counts kernel time)
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}

#: how many times the timed statement is repeated inside one loop iteration
UNROLL = 10

SCALE_N = 100_000
MEMORY_REGISTRATIONS = 100_000

_BOOT = (
    "import importlib.util as u, sys\n"
    "s = u.spec_from_file_location('_rselectors_bench_worker', sys.argv[1])\n"
    "m = u.module_from_spec(s)\n"
    "sys.modules[s.name] = m\n"
    "s.loader.exec_module(m)\n"
    "sys.exit(m._worker_main(sys.argv[2:]))\n"
)


# --------------------------------------------------------------------------------------------
# small helpers


def import_impl(name):
    """Import the implementation under test by module name (lazily, never at module level)."""
    import importlib

    return importlib.import_module(name)


def label(name):
    """Column label of an implementation module name."""
    return "stdlib" if name == "selectors" else name


def worker_cmd(*args):
    """Command line that runs ``_worker_main(args)`` of this file in a fresh interpreter."""
    return [sys.executable, "-c", _BOOT, os.path.abspath(__file__)] + [str(a) for a in args]


def raise_nofile(want):
    """Raise the soft RLIMIT_NOFILE towards ``want`` (up to the hard limit); return the soft."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft >= want:
        return soft
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft == resource.RLIM_INFINITY or target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return want if soft == resource.RLIM_INFINITY else soft


def nofile_hard():
    try:
        import resource
    except ImportError:  # pragma: no cover
        return 1024
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 30 if hard == resource.RLIM_INFINITY else hard


def backend_available(name):
    """True if the stdlib ``select`` module has the primitive behind this backend."""
    return {
        "epoll": hasattr(_select, "epoll"),
        "poll": hasattr(_select, "poll"),
        "select": True,
        "kqueue": hasattr(_select, "kqueue"),
    }[name]


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list (q in [0, 100])."""
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(q / 100.0 * len(sorted_values)) - 1)
    return sorted_values[min(k, len(sorted_values) - 1)]


def fmt_num(x):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if math.isnan(x):
        return "nan"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


# --------------------------------------------------------------------------------------------
# file descriptors for the cases


class FdPool:
    """Owns every fd a case uses; both implementations register the same fds.

    * ready fds: ends of socketpairs that are always ready. ``mode="write"``: registered for
      EVENT_WRITE (an empty socket buffer is always writable). ``mode="read"``: the peer has
      sent one byte that nobody reads, registered for EVENT_READ. ``distinct=True`` uses one
      socketpair per ready fd (2 fds each); ``distinct=False`` uses ``os.dup`` of one
      socketpair end (1 fd each; keeps every fd below FD_SETSIZE for SelectSelector).
    * idle fds: ``os.dup`` copies of one socketpair end that never receives data, registered
      for EVENT_READ: never ready, 1 fd each.
    """

    def __init__(self):
        self._socks = []
        self._fds = []

    def socketpair(self):
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        self._socks += [a, b]
        return a, b

    def dups(self, fd, n):
        out = []
        for _ in range(n):
            d = os.dup(fd)
            self._fds.append(d)
            out.append(d)
        return out

    def ready(self, k, mode="write", distinct=True):
        """Return ``(fds, sockets, events)``: k ready fds (and their socket objects if distinct)."""
        events = EVENT_WRITE if mode == "write" else EVENT_READ
        if distinct:
            socks = []
            for _ in range(k):
                a, b = self.socketpair()
                if mode == "read":
                    b.send(b"x")
                socks.append(a)
            return [s.fileno() for s in socks], socks, events
        a, b = self.socketpair()
        if mode == "read":
            b.send(b"x")
        return self.dups(a.fileno(), k), None, events

    def idle(self, n):
        """n never-ready fds (register them for EVENT_READ)."""
        if n <= 0:
            return []
        a, _b = self.socketpair()
        return self.dups(a.fileno(), n)

    def max_fd(self):
        fds = self._fds + [s.fileno() for s in self._socks]
        return max(fds) if fds else -1

    def close(self):
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        for s in self._socks:
            s.close()
        self._fds = []
        self._socks = []


# --------------------------------------------------------------------------------------------
# micro cases
#
# A case class is built once per worker (it allocates the shared fds) and its ``make(mod,
# cls)`` builds one selector of an implementation and returns ``(selector, namespace, stmt,
# ops_per_stmt)``: ``stmt`` is timed with the names of ``namespace`` as fast locals and the
# per-op figure is elapsed / (iterations * UNROLL * ops_per_stmt).


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


OTHERS = 100  # registrations already in the selector for the per-fd cases


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


class RegisterUnregister(_OneFdCase):
    """``register(x, EVENT_READ)`` + ``unregister(x)`` of one fd (``OTHERS`` already there)."""

    unit = "ns/pair"

    def make(self, mod, cls):
        sel = self.selector(cls)
        sel.unregister(self.obj)
        ns = {"r": sel.register, "u": sel.unregister, "o": self.obj}
        return sel, ns, "r(o, 1); u(o)", 1


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
}


# --------------------------------------------------------------------------------------------
# the timing engine


def make_loop(names, stmt, unroll=UNROLL):
    """Compile ``_loop(_n, _pc, **names)`` that runs ``stmt`` ``_n * unroll`` times."""
    body = "\n".join("        " + stmt for _ in range(unroll))
    src = (
        "def _loop(_n, _pc, {args}):\n"
        "    _r = range(_n)\n"
        "    _t0 = _pc()\n"
        "    for _ in _r:\n"
        "{body}\n"
        "    return _pc() - _t0\n"
    ).format(args=", ".join(sorted(names)), body=body)
    ns = {}
    code = compile(src, f"<bench:{stmt}>", "exec")
    exec(code, ns)  # noqa: S102 - the loop is generated from our own statements
    return ns["_loop"]


def make_call(names, stmt):
    """Compile a no-argument function that runs ``stmt`` once (for pytest-benchmark)."""
    src = "def _call({args}):\n    {stmt}\n".format(
        args=", ".join(f"{k}={k}" for k in sorted(names)), stmt=stmt
    )
    code = compile(src, f"<bench:{stmt}>", "exec")
    ns = dict(names)
    exec(code, ns)  # noqa: S102 - the function is generated from our own statements
    return ns["_call"]


def calibrate(loop, ns, pc, target_ns):
    """Iterations for one repeat of about ``target_ns`` (robust to a preempted trial run)."""
    n = 1
    for _ in range(40):
        t = loop(n, pc, **ns)
        if t >= target_ns:
            break
        n = n * 10 if t <= 0 else max(n + 1, int(n * min(10.0, 1.2 * target_ns / t)))
    best = min(loop(n, pc, **ns) for _ in range(3))  # also warms up
    return max(1, round(n * target_ns / best)) if best > 0 else n


def time_interleaved(sides, repeats, target_ns, clock="wall"):
    """Time every side interleaved; return per-side lists of per-op ns, one per repeat.

    ``sides`` is a list of ``(loop, namespace, ops_per_iteration)``. Each side's iteration
    count is calibrated so that one of its repeats lasts about ``target_ns`` (equal exposure to
    interruptions whatever the speed of the side), then the sides are timed ``repeats`` times
    each in alternating order (AB, BA, AB, ...). Returns ``(samples, iterations)``.
    """
    pc = CLOCKS[clock]
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        counts = [calibrate(loop, ns, pc, target_ns) for loop, ns, _ in sides]
        out = [[] for _ in sides]
        order = list(range(len(sides)))
        for i in range(repeats):
            for j in order if i % 2 == 0 else order[::-1]:
                loop, ns, ops = sides[j]
                n = counts[j]
                out[j].append(loop(n, pc, **ns) / (n * ops))
        return out, counts
    finally:
        if was_enabled:
            gc.enable()


def summarize(samples):
    s = sorted(samples)
    med = statistics.median(s)
    q1, q3 = percentile(s, 25), percentile(s, 75)
    return {
        "median": med,
        "min": s[0],
        "max": s[-1],
        "iqr_pct": 100.0 * (q3 - q1) / med if med else 0.0,
        "n": len(s),
    }


def run_micro(spec, impls, repeats, target_ns, clock="wall"):
    """Run one micro case in this process; return a result row."""
    cls_name = BACKENDS[spec["backend"]]
    mods = [import_impl(name) for name in impls]
    pool = FdPool()
    sels = []
    try:
        params = dict(spec["params"], case=spec["case"])
        case = MICRO_CASES[spec["case"]](pool, spec["backend"], params)
        sides = []
        for mod in mods:
            cls = getattr(mod, cls_name, None)
            if cls is None:
                raise CaseError(f"skipped: {mod.__name__} has no {cls_name}")
            sel, ns, stmt, ops = case.make(mod, cls)
            sels.append(sel)
            sides.append((make_loop(ns, stmt), ns, UNROLL * ops))
        samples, n = time_interleaved(sides, repeats, target_ns, clock)
        row = {"unit": case.unit, "iterations": n, "unroll": UNROLL}
        if getattr(case, "fds", None):
            row["fds"] = case.fds
        row["samples"] = samples
        row["stats"] = [summarize(s) for s in samples]
        a, b = row["stats"][0]["median"], row["stats"][1]["median"]
        row["values"] = [a, b]
        row["ratio"] = b / a if a else float("nan")
        paired = sorted(y / x for x, y in zip(samples[0], samples[1]) if x)
        row["paired_ratio"] = statistics.median(paired) if paired else float("nan")
        return row
    finally:
        for sel in sels:
            sel.close()
        pool.close()


# --------------------------------------------------------------------------------------------
# memory


def rss_bytes():
    """Current resident set size (Linux: /proc/self/statm; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def run_memory(impl, backend, registrations):
    """RSS delta per registration over ``registrations`` int-fd registrations (data=None).

    With fewer fds available than registrations, the registrations are spread over several
    selectors of the same class (the same fd may be registered in each); the selectors and
    fds are created before the first RSS reading, so only the registrations are counted.
    """
    mod = import_impl(impl)
    cls = getattr(mod, BACKENDS[backend], None)
    if cls is None:
        return {"error": f"skipped: {impl} has no {BACKENDS[backend]}"}
    limit = raise_nofile(registrations + 256)
    n_fds = max(1, min(registrations, limit - 256))
    n_sel = -(-registrations // n_fds)
    pool = FdPool()
    fds = pool.idle(n_fds)
    sels = [cls() for _ in range(n_sel)]
    # touch the code paths once so lazily built state is not counted
    sels[0].register(fds[0], EVENT_READ)
    sels[0].unregister(fds[0])
    gc.collect()
    before = rss_bytes()
    left = registrations
    for sel in sels:
        for fd in fds[: min(n_fds, left)]:
            sel.register(fd, EVENT_READ)
        left -= min(n_fds, left)
    gc.collect()
    after = rss_bytes()
    count = sum(len(sel.get_map()) for sel in sels)
    for sel in sels:
        sel.close()
    pool.close()
    return {
        "bytes_per_registration": (after - before) / count,
        "registrations": count,
        "selectors": n_sel,
        "fds": n_fds,
    }


# --------------------------------------------------------------------------------------------
# sub-millisecond timeouts


def run_timeouts(spec, impls, samples):
    """Overshoot (elapsed - t) of ``select(t)`` with nothing ready, both sides interleaved."""
    cls_name = BACKENDS[spec["backend"]]
    mods = [import_impl(name) for name in impls]
    pool = FdPool()
    idle = pool.idle(1)
    sels = []
    try:
        for mod in mods:
            cls = getattr(mod, cls_name, None)
            if cls is None:
                raise CaseError(f"skipped: {mod.__name__} has no {cls_name}")
            sel = cls()
            sel.register(idle[0], EVENT_READ)
            sel.select(0.0001)  # warm up (a native selector may build its notifier here)
            sels.append(sel)
        t = spec["params"]["t_us"] * 1e-6
        t_ns = spec["params"]["t_us"] * 1000
        pc = time.perf_counter_ns
        over = [[] for _ in sels]
        for i in range(samples):
            order = range(len(sels)) if i % 2 == 0 else range(len(sels) - 1, -1, -1)
            for j in order:
                s = sels[j].select
                t0 = pc()
                s(t)
                over[j].append((pc() - t0 - t_ns) / 1000.0)
        out = []
        for o in over:
            s = sorted(o)
            out.append(
                {
                    "median": statistics.median(s),
                    "p99": percentile(s, 99),
                    "min": s[0],
                    "early": sum(1 for x in s if x < 0),
                    "n": len(s),
                }
            )
        return {"samples": over, "stats": out}
    finally:
        for sel in sels:
            sel.close()
        pool.close()


# --------------------------------------------------------------------------------------------
# end to end: echo servers and load clients (separate processes)


def serve_callback(mod, port, selector):
    """The seed's callback-style echo server, on ``mod`` (prints removed, port configurable)."""
    sel = getattr(mod, selector)()

    def accept(sock, mask):
        conn, _addr = sock.accept()  # Should be ready
        conn.setblocking(False)
        sel.register(conn, mod.EVENT_READ, read)

    def read(conn, mask):
        data = conn.recv(1000)  # Should be ready
        if data:
            conn.send(data)  # Hope it won't block
        else:
            sel.unregister(conn)
            conn.close()

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(100)
    sock.setblocking(False)
    sel.register(sock, mod.EVENT_READ, accept)
    print("PORT", sock.getsockname()[1], flush=True)

    while True:
        events = sel.select()
        for key, mask in events:
            callback = key.data
            callback(key.fileobj, mask)


async def echo_stream(reader, writer):
    """The asyncio streams echo handler: ``read(1000)``, ``write``, ``drain`` until EOF."""
    while True:
        data = await reader.read(1000)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


def serve_asyncio(mod, port, selector, kind):
    """asyncio echo server (Protocol- or streams-based) on ``SelectorEventLoop(selector=...)``."""
    import asyncio

    class EchoProtocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    async def main():
        loop = asyncio.get_running_loop()
        if kind == "asyncio-protocol":
            server = await loop.create_server(EchoProtocol, "127.0.0.1", port)
        else:
            server = await asyncio.start_server(echo_stream, "127.0.0.1", port)
        print("PORT", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()  # forever; the driver kills us

    loop = asyncio.SelectorEventLoop(selector=getattr(mod, selector)())
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())


SERVER_KINDS = ("callback", "asyncio-protocol", "asyncio-streams")


def _watchdog(max_seconds):
    """Exit the server when its parent is gone or after ``max_seconds`` (never run forever)."""
    import threading

    ppid = os.getppid()
    deadline = time.monotonic() + max_seconds

    def watch():
        while os.getppid() == ppid and time.monotonic() < deadline:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="bench-watchdog", daemon=True).start()


def serve(impl, kind, port, selector="DefaultSelector", max_seconds=3600.0):
    """Run an echo server of ``kind`` on ``impl`` until killed (at most ``max_seconds``)."""
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    _watchdog(max_seconds)
    mod = import_impl(impl)
    if kind == "callback":
        serve_callback(mod, port, selector)
    else:
        serve_asyncio(mod, port, selector, kind)


def load_client(ports, start, slots, size):
    """Blocking ping-pong load client: send ``size`` bytes, wait for the echo, repeat.

    Connects to every server in ``ports`` first, then waits for the wall-clock ``start`` so
    that all clients load the same server during the same window. ``slots`` is a list of
    ``[server_index, end_offset_s]``: during slot ``i`` (until ``start + end_offset``) the
    client talks only to server ``server_index``. Prints ``{"counts": [per slot]}`` as JSON.
    """
    socks = []
    for port in ports:
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    msg = b"x" * size
    delay = start - time.time()
    if delay > 0:
        time.sleep(delay)
    counts = []
    now = time.time
    try:
        for index, end_offset in slots:
            send, recv = socks[index].sendall, socks[index].recv
            end = start + end_offset
            count = 0
            while now() < end:
                send(msg)
                got = 0
                while got < size:
                    chunk = recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    got += len(chunk)
                count += 1
            counts.append(count)
    finally:
        for s in socks:
            s.close()
    print(json.dumps({"counts": counts}), flush=True)
    return 0


def echo_schedule(rounds, slot, warmup):
    """Slots ``[server_index, end_offset]``: a warm-up slot per server, then ABBA... slots."""
    order = [0, 1]
    for r in range(rounds):
        order += [0, 1] if r % 2 == 0 else [1, 0]
    out, t = [], 0.0
    for i, index in enumerate(order):
        t += warmup if i < 2 else slot
        out.append([index, round(t, 6)])
    return out


def run_load(ports, clients, slots, size, client_exe=None):
    """Start ``clients`` load processes on ``ports``; return ``(start, procs)``.

    ``client_exe``: an executable taking the same arguments as the ``client`` worker (e.g.
    ``benches/loadgen/echo_client.c`` compiled), used instead of the Python client.
    """
    start = time.time() + 0.5 + 0.1 * clients
    args = [",".join(map(str, ports)), repr(start), json.dumps(slots), str(size)]
    procs = []
    try:
        for _ in range(clients):
            cmd = [client_exe, *args] if client_exe else worker_cmd("client", *args)
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    except BaseException:
        for p in procs:
            _kill(p)
        raise
    return start, procs


def collect_load(procs, n_slots, timeout=60):
    """Wait for the load processes; return the request count of every slot (all clients)."""
    totals = [0] * n_slots
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            msg = err.decode(errors="replace").strip().splitlines()
            raise RuntimeError("load client failed: " + (msg[-1] if msg else "?"))
        counts = json.loads(out.decode().strip().splitlines()[-1])["counts"]
        totals = [a + b for a, b in zip(totals, counts)]
    return totals


def load_only(port, clients, duration, size, client_exe=None):
    """Load an already running echo server on ``port``; return requests per second."""
    slots = [[0, duration]]
    _start, procs = run_load([port], clients, slots, size, client_exe)
    try:
        return collect_load(procs, 1, timeout=duration + 60)[0] / duration
    finally:
        for p in procs:
            _kill(p)


def _proc_cpu_seconds(pid):
    """utime + stime of a process in seconds (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _kill(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_server(impl, kind, selector="DefaultSelector", port=0, timeout=15.0, max_seconds=600):
    """Start a server process; return ``(proc, port)`` once it printed its port."""
    proc = subprocess.Popen(
        worker_cmd("server", impl, kind, port, selector, max_seconds),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        r, _, _ = _select.select([proc.stdout], [], [], 0.1)
        if r:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    if not line.startswith(b"PORT "):
        _kill(proc)
        err = proc.stderr.read().decode(errors="replace").strip().splitlines()
        raise RuntimeError("server did not start: " + (err[-1] if err else repr(line)))
    return proc, int(line.split()[1])


def run_echo(
    impls,
    kind,
    clients,
    rounds,
    slot,
    size,
    selector="DefaultSelector",
    pin=False,
    client_exe=None,
):
    """Echo servers of ``kind`` on every impl, loaded in turn by ``clients`` processes.

    All servers and clients stay up for the whole measurement; the clients switch servers at
    slot boundaries (A, B, B, A, ...), so both sides see the same machine conditions.
    ``client_exe``: see :func:`run_load`. Returns
    ``{"runs": [[{"rps", "server_cpu_us_per_req", ...} per slot] per impl]}``.
    """
    procs, servers = [], []
    try:
        ports = []
        for impl in impls:
            lifetime = 120 + 2 * (rounds + 1) * slot
            proc, port = start_server(impl, kind, selector, max_seconds=lifetime)
            servers.append(proc)
            ports.append(port)
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        pin = pin and len(cpus) >= 2
        if pin:
            for proc in servers:
                os.sched_setaffinity(proc.pid, {cpus[0]})
        warmup = min(1.0, max(0.2, slot / 2))
        slots = echo_schedule(rounds, slot, warmup)
        start, procs = run_load(ports, clients, slots, size, client_exe)
        if pin:
            for p in procs:
                os.sched_setaffinity(p.pid, set(cpus[1:]))
        # server CPU time at every slot boundary
        cpu = []
        for t in [0.0] + [end for _, end in slots]:
            time.sleep(max(0.0, start + t - time.time()))
            cpu.append([_proc_cpu_seconds(proc.pid) for proc in servers])
        totals = collect_load(procs, len(slots))
        runs = [[] for _ in impls]
        prev_end = 0.0
        for i, (index, end) in enumerate(slots):
            length, prev_end = end - prev_end, end
            if i < 2:  # warm-up slots
                continue
            res = {"requests": totals[i], "rps": totals[i] / length}
            c0, c1 = cpu[i][index], cpu[i + 1][index]
            if c0 is not None and c1 is not None and totals[i]:
                res["server_cpu_us_per_req"] = (c1 - c0) * 1e6 / totals[i]
                res["server_cpu_util"] = (c1 - c0) / length
            runs[index].append(res)
        return {"runs": runs}
    finally:
        for p in procs:
            _kill(p)
        for proc in servers:
            _kill(proc)
            proc.stdout.close()
            proc.stderr.close()


# --------------------------------------------------------------------------------------------
# worker entry point


def _worker_main(argv):
    mode = argv[0]
    if mode == "micro":
        spec, impls, repeats, target_ns, clock = json.loads(argv[1])
        try:
            res = run_micro(spec, impls, repeats, target_ns, clock)
        except CaseError as e:
            res = {"error": str(e)}
        except Exception as e:  # noqa: BLE001 - report it, do not crash the whole run
            res = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res))
        return 0
    if mode == "timeout":
        spec, impls, samples = json.loads(argv[1])
        try:
            res = run_timeouts(spec, impls, samples)
        except CaseError as e:
            res = {"error": str(e)}
        except Exception as e:  # noqa: BLE001 - report it, do not crash the whole run
            res = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res))
        return 0
    if mode == "memory":
        impl, backend, n = argv[1], argv[2], int(argv[3])
        try:
            res = run_memory(impl, backend, n)
        except Exception as e:  # noqa: BLE001 - report it, do not crash the whole run
            res = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res))
        return 0
    if mode == "server":
        serve(argv[1], argv[2], int(argv[3]), argv[4], float(argv[5]))
        return 0
    if mode == "client":
        ports = [int(p) for p in argv[1].split(",")]
        return load_client(ports, float(argv[2]), json.loads(argv[3]), int(argv[4]))
    raise SystemExit(f"unknown worker mode {mode!r}")


def run_worker(args, timeout=600):
    """Run a worker process and return its JSON result (or an error dict)."""
    try:
        proc = subprocess.run(worker_cmd(*args), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout} s"}
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return {"error": "worker exit {}: {}".format(proc.returncode, err[-1] if err else "")}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------------------------
# the plan


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
    for case in ("get_key", "map_get", "map_get_cached"):
        for b in backends:
            for obj in ("fd", "sock"):
                add("micro", case, b, obj=obj)
    scale_backends = [b for b in ("epoll", "kqueue") if b in backends]
    if scale_backends:
        hard = nofile_hard()
        big = SCALE_N
        if big + 2 * 100 + 64 > hard:
            big = max(1000, (hard - 2 * 100 - 64) // 1000 * 1000)
        for b in scale_backends:
            add("micro", "scale", b, K=100, N=100)
            add("micro", "scale", b, K=100, N=big)
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


# --------------------------------------------------------------------------------------------
# machine info, progress, report


def machine_info(impls):
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": platform.machine(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        if sys.platform == "darwin":
            try:
                info["cpu"] = (
                    subprocess.run(
                        ["sysctl", "-n", "machdep.cpu.brand_string"],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                        timeout=5,
                        check=False,
                    )
                    .stdout.decode()
                    .strip()
                    or info["cpu"]
                )
            except (OSError, subprocess.SubprocessError):
                pass
    if hasattr(os, "sched_getaffinity"):
        info["cores_usable"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    versions = {}
    for name in impls:
        try:
            mod = import_impl(name)
            versions[name] = getattr(mod, "__version__", None) or (
                "stdlib" if name == "selectors" else "?"
            )
        except ImportError:
            versions[name] = None
    info["impls"] = versions
    return info


class Progress:
    """One status line on stderr (rewritten in place on a terminal)."""

    def __init__(self, total, enabled=True):
        self.total = total
        self.i = 0
        self.t0 = time.monotonic()
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    def step(self, what):
        self.i += 1
        if not self.enabled:
            return
        msg = f"[{self.i:>3}/{self.total}] {time.monotonic() - self.t0:6.1f}s  {what}"
        if self.tty:
            sys.stderr.write("\r\x1b[K" + msg[:150])
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    def done(self):
        if self.enabled and self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


#: a micro case whose repeats spread more than this (IQR, % of the median) is flagged NOISY
NOISY_IQR_PCT = 25

SECTION_TITLES = {
    "micro": "Micro benchmarks (median per op; ratio = B/A, lower is better for B)",
    "memory": "Memory: RSS delta per registration (ratio lower is better for B)",
    "timeout": "Timeout overshoot of select(t), nothing ready, elapsed - t in us",
    "echo": "End to end echo servers (req/s: ratio higher is better for B; "
    "server CPU us/req: lower is better)",
}


def rows_for(spec, res, names):
    """Table rows (lists of cells) for one result."""
    base = [spec["case"], spec["backend"], fmt_params(spec)]
    if "error" in res:
        return [base + ["-", "-", "-", "-", res["error"]]]
    kind = spec["kind"]
    if kind == "micro":
        iqr = [st["iqr_pct"] for st in res["stats"]]
        note = "iqr {:.0f}%/{:.0f}%".format(*iqr)
        if max(iqr) > NOISY_IQR_PCT:
            note += " NOISY"
        if res.get("fds") == "dups":
            note += ", dup fds"
        a, b = res["values"]
        return [base + [res["unit"], fmt_num(a), fmt_num(b), "{:.2f}".format(res["ratio"]), note]]
    if kind == "memory":
        a, b = res["values"]
        note = "{:,} regs in {} selector(s)".format(res["registrations"], res["selectors"])
        ratio = f"{b / a:.2f}" if a > 0 else "-"
        return [base + ["B/reg", fmt_num(a), fmt_num(b), ratio, note]]
    if kind == "timeout":
        out = []
        sa, sb = res["stats"]
        for stat in ("median", "p99"):
            a, b = sa[stat], sb[stat]
            ratio = f"{b / a:.2f}" if a > 0 else "-"
            note = ""
            if sa["early"] or sb["early"]:
                note = "EARLY returns {}/{}".format(sa["early"], sb["early"])
            row = [spec["case"], spec["backend"], fmt_params(spec) + " " + stat]
            out.append(row + ["us", fmt_num(a), fmt_num(b), ratio, note])
        return out
    if kind == "echo":
        ra, rb = res["runs"]
        a = statistics.median(r["rps"] for r in ra)
        b = statistics.median(r["rps"] for r in rb)
        params = "{} {} clients, {}x{}s".format(
            res["clients"], res.get("load_client", "python"), len(ra), res["slot_s"]
        )
        spread = "spread " + "/".join(
            "{:.0f}%".format(100 * (max(x["rps"] for x in r) - min(x["rps"] for x in r)) / m)
            if m
            else "-"
            for r, m in ((ra, a), (rb, b))
        )
        ratio = f"{b / a:.3f}" if a else "-"
        rows = [base[:2] + [params, "req/s", fmt_num(a), fmt_num(b), ratio, spread]]
        ca = [r["server_cpu_us_per_req"] for r in ra if "server_cpu_us_per_req" in r]
        cb = [r["server_cpu_us_per_req"] for r in rb if "server_cpu_us_per_req" in r]
        if ca and cb:
            a, b = statistics.median(ca), statistics.median(cb)
            util = [statistics.median(r["server_cpu_util"] for r in x) for x in (ra, rb)]
            note = f"server CPU {100 * util[0]:.0f}%/{100 * util[1]:.0f}%"
            ratio = f"{b / a:.3f}" if a else "-"
            rows.append(base[:2] + ["", "srv us/req", fmt_num(a), fmt_num(b), ratio, note])
        return rows
    return [base + ["?"] * 5]


def _table_line(cells, widths, right=(4, 5, 6)):
    parts = []
    for i, c in enumerate(cells):
        c = str(c)
        parts.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
    return "  ".join(parts).rstrip() + "\n"


def print_table(results, names, info, out=sys.stdout):
    la, lb = (label(n) for n in names)
    w = out.write
    w("\nMachine: {cpu}, {cores} cores, {kernel}, {python}\n".format(**info))
    if "loadavg" in info:
        w("Load average at start: {}\n".format(" ".join(map(str, info["loadavg"]))))
    w(f"A = {la} ({names[0]}), B = {lb} ({names[1]})\n")
    header = ["case", "backend", "params", "unit", "A " + la, "B " + lb, "B/A", "note"]
    for section in ("micro", "memory", "timeout", "echo"):
        rows = []
        for spec, res in results:
            if spec["kind"] == section:
                rows += rows_for(spec, res, names)
        if not rows:
            continue
        w("\n" + SECTION_TITLES[section] + "\n")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        w(_table_line(header, widths))
        w(_table_line(["-" * x for x in widths], widths))
        for r in rows:
            w(_table_line(r, widths))
    notes = scale_notes(results, names)
    for n in notes:
        w("\n" + n + "\n")
    out.flush()


def scale_notes(results, names):
    notes = []
    by_backend = {}
    for spec, res in results:
        if spec["case"] == "scale" and "error" not in res:
            by_backend.setdefault(spec["backend"], []).append((spec["params"]["N"], res))
    for backend, items in by_backend.items():
        if len(items) < 2:
            continue
        items.sort(key=lambda x: x[0])
        (n0, r0), (n1, r1) = items[0], items[-1]
        parts = [
            "{} x{:.2f}".format(label(name), r1["values"][i] / r0["values"][i])
            for i, name in enumerate(names)
        ]
        notes.append(
            "Scale ({}, 100 ready): cost per event at N={:,} / N={:,}: {}".format(
                backend, n1, n0, ", ".join(parts)
            )
        )
        if n1 < SCALE_N:
            notes.append(
                f"  note: RLIMIT_NOFILE hard limit {nofile_hard():,} < {SCALE_N:,}: scale case used N={n1:,}"
            )
    return notes


def write_png(results, names, path):
    """Cost per ready event vs K: a panel per backend, a colour per implementation, a line
    style per N (N = K, 1,000, 10,000)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for spec, res in results:
        if spec["case"] != "select_ready" or "error" in res:
            continue
        p = spec["params"]
        n_key = 0 if p["N"] == p["K"] else p["N"]
        for i in range(len(names)):
            series.setdefault((spec["backend"], i, n_key), []).append((p["K"], res["values"][i]))
    backends = [b for b in BACKENDS if any(k[0] == b for k in series)]
    if not backends:
        raise RuntimeError("no select_ready results to plot")
    colors = ["tab:blue", "tab:orange"]
    styles = {0: "-", 1000: "--", 10_000: ":"}
    fig, axes = plt.subplots(1, len(backends), figsize=(5 * len(backends), 4), squeeze=False)
    for ax, backend in zip(axes[0], backends):
        for (b, i, n_key), pts in sorted(series.items()):
            if b != backend:
                continue
            pts.sort()
            n_label = "N=K" if n_key == 0 else f"N={n_key:,}"
            ax.plot(
                [k for k, _ in pts],
                [v for _, v in pts],
                marker="o",
                color=colors[i % 2],
                linestyle=styles.get(n_key, "-."),
                label=f"{'AB'[i]}: {label(names[i])}, {n_label}",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("K ready fds")
        ax.set_ylabel("ns per ready event (log)")
        ax.set_title(f"select(0), {BACKENDS[backend]}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Cost per ready event, median (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# driver


def run_all(specs, args, progress):
    names = [args.impl_a, args.impl_b]
    results = []
    for spec in specs:
        progress.step(case_id(spec))
        kind = spec["kind"]
        if kind == "micro":
            target = int(args.target_ms * 1e6)
            payload = json.dumps([spec, names, args.repeats, target, args.clock])
            res = run_worker(["micro", payload])
            if "error" in res and not res["error"].startswith("skipped"):
                time.sleep(1.0)  # a transient failure (e.g. a shared kernel limit): retry once
                res = run_worker(["micro", payload])
        elif kind == "memory":
            vals, extra = [], {}
            for name in names:
                r = run_worker(["memory", name, spec["backend"], spec["params"]["registrations"]])
                if "error" in r:
                    extra = r
                    break
                vals.append(r["bytes_per_registration"])
                extra = r
            res = extra if "error" in extra else dict(extra, values=vals)
        elif kind == "timeout":
            res = run_worker(["timeout", json.dumps([spec, names, args.timeout_samples])])
        elif kind == "echo":
            res = run_e2e_case(spec, names, args)
        else:  # pragma: no cover
            res = {"error": "unknown kind"}
        results.append((spec, res))
    return results


def run_e2e_case(spec, names, args):
    kind = spec["case"][len("echo_") :].replace("_", "-")
    try:
        res = run_echo(
            names,
            kind,
            args.clients,
            args.e2e_rounds,
            args.duration,
            args.msg_size,
            args.e2e_selector,
            args.pin,
            args.load_client,
        )
    except Exception as e:  # noqa: BLE001 - report it, go on with the other cases
        return {"error": f"{type(e).__name__}: {e}"}
    res.update(
        clients=args.clients,
        slot_s=args.duration,
        msg_size=args.msg_size,
        load_client="native" if args.load_client else "python",
    )
    return res


def build_parser(prog=None):
    p = argparse.ArgumentParser(
        prog=prog,
        description="Benchmark two selectors implementations side by side (interleaved).",
    )
    p.add_argument("--impl-a", default="selectors", help="baseline module (default: selectors)")
    p.add_argument("--impl-b", default="rselectors", help="module under test (default: rselectors)")
    p.add_argument("--quick", action="store_true", help="CI-sized run (< 60 s)")
    p.add_argument(
        "--cases",
        default="",
        help="comma-separated case filters: names (select_ready), substrings of case "
        "ids (select_idle/epoll) or globs (*/poll/*); kinds: memory, timeout, echo",
    )
    p.add_argument(
        "--backends", default="", help="comma-separated subset of: " + ", ".join(BACKENDS)
    )
    p.add_argument("--json", metavar="OUT", help="write all results (raw samples too) as JSON")
    p.add_argument(
        "--png", metavar="OUT", help="chart of cost per ready event vs K (needs matplotlib)"
    )
    p.add_argument("--repeats", type=int, help="interleaved repeats per side and micro case")
    p.add_argument("--target-ms", type=float, help="duration of one timed repeat")
    p.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="micro cases: wall = time.perf_counter_ns (default); cpu = "
        "time.thread_time_ns, less sensitive to other processes on a shared machine",
    )
    p.add_argument("--timeout-samples", type=int, help="select(t) samples per side and t")
    p.add_argument("--duration", type=float, help="echo: seconds per load slot")
    p.add_argument(
        "--e2e-rounds",
        type=int,
        help="echo: slot pairs (AB, BA, ...): each side is measured this many times",
    )
    p.add_argument("--clients", type=int, default=10, help="load client processes (default 10)")
    p.add_argument("--msg-size", type=int, default=32, help="bytes per echo message")
    p.add_argument(
        "--e2e-selector",
        default="DefaultSelector",
        help="selector class the echo servers use (default DefaultSelector)",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="echo: pin the server to the first CPU and clients to the others",
    )
    p.add_argument(
        "--load-client",
        metavar="PATH",
        help="echo: an executable load client to use instead of the Python one, e.g. "
        "benches/loadgen/echo_client.c compiled (costs the machine less CPU than the server)",
    )
    p.add_argument("--list", action="store_true", help="list the case ids and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return p


def main(argv=None, prog=None):
    args = build_parser(prog).parse_args(argv)
    defaults = {
        # quick / full
        "repeats": (31, 201),
        "target_ms": (0.5, 0.5),
        "timeout_samples": (30, 300),
        "duration": (0.5, 2.0),
        "e2e_rounds": (2, 6),
    }
    for k, (q, f) in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, q if args.quick else f)

    names = [args.impl_a, args.impl_b]
    for name in names:
        try:
            import_impl(name)
        except ImportError as e:
            sys.stderr.write(
                f"error: cannot import {name!r} ({e}).\n"
                "  Build it first (cd to the checkout; maturin develop --release), or compare "
                "the stdlib with itself: --impl-b selectors\n"
            )
            return 2
    if args.load_client:
        args.load_client = os.path.abspath(args.load_client)
        if not os.access(args.load_client, os.X_OK):
            sys.stderr.write(f"error: --load-client {args.load_client!r} is not executable\n")
            return 2
    if args.png:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            sys.stderr.write(
                "note: --png needs matplotlib, which is not installed "
                "(python -m pip install matplotlib); the chart will be skipped\n"
            )
            args.png = None

    backends = [b.strip() for b in args.backends.split(",") if b.strip()] or list(BACKENDS)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        sys.stderr.write("error: unknown backend(s): {}\n".format(", ".join(unknown)))
        return 2
    backends = [b for b in backends if backend_available(b)]
    specs = plan(backends)
    patterns = [c.strip() for c in args.cases.split(",") if c.strip()]
    specs = select_cases(specs, patterns)
    if args.list:
        for s in specs:
            print(case_id(s))
        return 0
    if not specs:
        sys.stderr.write(f"error: no case matches --cases {args.cases!r}\n")
        return 2

    info = machine_info(names)
    busy = info.get("loadavg", [0])[0]
    if busy > (info.get("cores_usable") or info["cores"] or 1):
        sys.stderr.write(
            f"warning: the machine is busy (load average {busy} on {info['cores']} cores): "
            "wall-clock medians will be inflated and noisy; --clock cpu measures CPU time "
            "instead\n"
        )
    t0 = time.monotonic()
    progress = Progress(len(specs), not args.no_progress)
    try:
        results = run_all(specs, args, progress)
    finally:
        progress.done()
    elapsed = time.monotonic() - t0
    print_table(results, names, info)
    print("\nTotal time {:.1f} s ({}).".format(elapsed, "quick" if args.quick else "full"))
    if args.json:
        doc = {
            "machine": info,
            "impls": names,
            "argv": sys.argv,
            "options": {k: v for k, v in vars(args).items()},
            "elapsed_s": elapsed,
            "results": [{"id": case_id(s), "spec": s, "result": r} for s, r in results],
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"JSON written to {args.json}")
    if args.png:
        try:
            write_png(results, names, args.png)
            print(f"Chart written to {args.png}")
        except Exception as e:  # noqa: BLE001 - the table is already printed
            sys.stderr.write(f"chart skipped: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
