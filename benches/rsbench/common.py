"""What every part of the engine uses: implementations, backends, file descriptors."""

import importlib
import os
import select
import socket
import sys

EVENT_READ = 1
EVENT_WRITE = 2

#: the backends the engine measures, in plan order
BACKENDS = ("epoll", "poll", "select", "kqueue")

#: ``select()`` refuses fds >= FD_SETSIZE; 1024 on Linux and macOS.
FD_SETSIZE = 1024

#: the C floor's module name (benches/floor, built by ``rsbench.floor``)
FLOOR = "_cfloor"


#: the folder that holds this package (``benches/``): workers put it on their ``sys.path``
BENCHES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from rsbench.workers import main; "
    "sys.exit(main(sys.argv[2:]))"
)


def worker_cmd(*args):
    """Command line of a worker process: ``rsbench.workers.main(args)`` in a fresh
    interpreter."""
    return [sys.executable, "-c", _BOOT, BENCHES, *map(str, args)]


def rotations(items, rounds):
    """``rounds`` orders of ``items``, each rotated by one more (A B C, B C A, C A B, ...)."""
    n = len(items)
    for r in range(rounds):
        yield items[r % n :] + items[: r % n]


def import_impl(name):
    """Import an implementation under test by module name (lazily, never at module level)."""
    return importlib.import_module(name)


def label(name):
    """Column label of an implementation module name."""
    return {"selectors": "stdlib", FLOOR: "floor"}.get(name, name)


def class_name(backend):
    """The selector class of a backend, the same name in every implementation (epoll ->
    EpollSelector)."""
    return backend.capitalize() + "Selector"


def backend_available(backend):
    """True if the stdlib ``select`` module has the primitive behind this backend."""
    return backend == "select" or hasattr(select, backend)


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
