"""``python -m rselectors``: ``info`` and ``echo``.

* ``info [--json]``: version, backends available and the default, what ``wakeup()`` uses, whether
  sub-millisecond timeouts work (kernel probe plus a short measurement), install() state.
* ``echo [--host H] [--port P]``: the stdlib documentation's echo server, on rselectors.

The benchmarks are a development tool in the source tree: ``python benches/compare.py``.
"""

import argparse
import errno
import json
import os
import platform
import selectors as _stdlib
import socket
import stat
import statistics
import sys
import time

import rselectors
from rselectors import _echo, _rselectors

PROG = "python -m rselectors"
#: what each backend waits with when its timeouts have microsecond resolution, and otherwise
PRECISE_CALL = {
    "epoll": ("epoll_pwait2", "epoll_wait, whole ms"),
    "kqueue": ("kevent timespec", None),
    "devpoll": (None, "DP_POLL, whole ms"),
    "poll": ("ppoll", "poll, whole ms"),
    "select": ("pselect", "winsock select, system timer ticks"),
}


def _class_name(backend):
    """The selector class of a backend name (epoll -> EpollSelector)."""
    return backend.capitalize() + "Selector"


def _overshoot_us(cls, timeout, samples):
    """Median time select(timeout) waited beyond ``timeout`` with nothing ready, in µs.

    One idle socket is registered: the stdlib's Windows select() refuses empty sets."""
    idle, peer = socket.socketpair()
    with cls() as sel, idle, peer:
        sel.register(idle, rselectors.EVENT_READ)
        sel.select(timeout)  # warm-up (creates lazy state)
        over = []
        for _ in range(samples):
            t0 = time.perf_counter()
            sel.select(timeout)
            over.append(time.perf_counter() - t0 - timeout)
    return statistics.median(over) * 1e6


def gather_info(samples=15):
    features = _rselectors._features()
    backends = list(features["backends"])
    precise = {}
    for b in backends:
        ok_call, coarse_call = PRECISE_CALL.get(b, (None, None))
        ok = bool(features["precise"][b])
        precise[b] = {
            "sub_ms": ok or features["timer"],
            "microseconds": ok,
            "via": ok_call if ok else coarse_call,
            "timer_below_1ms": features["timer"],
        }
    default_cls = rselectors.DefaultSelector
    timeout = 0.0002
    stdlib_default = _stdlib.DefaultSelector
    if stdlib_default is default_cls:  # install()ed: measure the stdlib's own class
        stdlib_default = getattr(rselectors._install, "_original", None) or _stdlib.SelectSelector
    measured = {
        "timeout_s": timeout,
        "rselectors_median_overshoot_us": round(_overshoot_us(default_cls, timeout, samples), 1),
        "stdlib_median_overshoot_us": round(_overshoot_us(stdlib_default, timeout, samples), 1),
    }
    return {
        "version": rselectors.__version__,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "backends": backends,
        "default": default_cls.__name__,
        "default_backend": features["default_backend"],
        "wakeup_notifier": features["notifier"],
        "sub_ms_timeouts": precise,
        "measured": measured,
        "installed": _stdlib.DefaultSelector is rselectors.DefaultSelector,
    }


def cmd_info(args):
    info = gather_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    names = [
        f"{b} ({_class_name(b)}{', default' if _class_name(b) == info['default'] else ''})"
        for b in info["backends"]
    ]
    m = info["measured"]
    print(f"rselectors {info['version']} on {info['implementation']} {info['python']}")
    print(f"platform:          {info['platform']}")
    print(f"backends:          {', '.join(names)}")
    print(f"DefaultSelector:   {info['default']}")
    print(f"wakeup() notifier: {info['wakeup_notifier']}")
    print("timeouts:")
    for b, p in info["sub_ms_timeouts"].items():
        state = "microseconds" if p["microseconds"] else "rounded up to whole ms"
        via = f" ({p['via']})" if p["via"] else ""
        timer = "; below 1 ms: slack-free timer (timerfd)" if p["timer_below_1ms"] else ""
        print(f"  {b + ':':<9}{state}{via}{timer}")
    print(
        f"select({m['timeout_s']}) overshoot, median: "
        f"rselectors {m['rselectors_median_overshoot_us']:.0f} µs, "
        f"stdlib {m['stdlib_median_overshoot_us']:.0f} µs"
    )
    state = "yes" if info["installed"] else "no"
    print(f"install()ed:       {state} (selectors.DefaultSelector is {_stdlib.DefaultSelector!r})")
    return 0


def cmd_echo(args):
    """The echo server of the stdlib ``selectors`` documentation, on rselectors."""
    cls = getattr(rselectors, _class_name(args.backend)) if args.backend else None
    sel = cls() if cls else rselectors.DefaultSelector()
    say = None if args.quiet else (lambda *a: print(*a, flush=True))
    sock = _echo.listen(sel, args.host, args.port, say)
    host, port = sock.getsockname()[:2]
    print(f"echo server on {host}:{port} ({type(sel).__name__}); Ctrl-C stops it", flush=True)
    try:
        _echo.serve_forever(sel)
    except KeyboardInterrupt:
        pass
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
    return 0


def build_parser():
    p = argparse.ArgumentParser(
        prog=PROG, description="rselectors: a faster, drop-in replacement for selectors."
    )
    p.add_argument("--version", action="version", version=f"rselectors {rselectors.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    pi = sub.add_parser("info", help="version, backends, kernel features")
    pi.add_argument("--json", action="store_true", help="machine-readable output")
    pe = sub.add_parser("echo", help="the stdlib docs' echo server, on rselectors")
    pe.add_argument("--host", default="localhost", help="address to bind (default localhost)")
    pe.add_argument("--port", type=int, default=1234, help="port (default 1234; 0 = any free)")
    pe.add_argument("--backend", choices=_rselectors._features()["backends"])
    pe.add_argument("-q", "--quiet", action="store_true", help="no line per event")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "info":
            return cmd_info(args)
        return cmd_echo(args)
    except OSError as exc:
        if not _reader_gone(exc):
            raise
        # The reader went away (`python -m rselectors info | head -1`): stop quietly, as
        # command-line tools do, and keep the interpreter's exit flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _reader_gone(exc):
    """Whether ``exc`` is a write to a stdout pipe nobody reads any more: BrokenPipeError, or
    on Windows EINVAL, which CPython raises there for such a write."""
    if isinstance(exc, BrokenPipeError):
        return True
    return (
        sys.platform == "win32"
        and exc.errno == errno.EINVAL
        and stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode)
    )


if __name__ == "__main__":
    sys.exit(main())
