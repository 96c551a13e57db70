"""Shared helpers for the reliability layer (tests/reliability/test_*.py).

Counts: every stress test has a fast variant that runs in every CI run and a ``soak``
variant (``pytest -m soak``) whose counts are the issue's full figures multiplied by
``RSELECTORS_SOAK_SCALE`` (default 1.0). CI runs the soak tests with a smaller count::

    RSELECTORS_SOAK_SCALE=0.05 python -m pytest -m soak -k reliability

See tests/reliability/README.md.
"""

import faulthandler
import gc
import os
import selectors as stdlib
import sys
import time

import pytest
from _support import key_tuple

try:
    import resource
except ImportError:  # Windows: no rlimits
    resource = None

#: Multiplier of the soak tests' full counts (``RSELECTORS_SOAK_SCALE``, default 1).
SOAK_SCALE = float(os.environ.get("RSELECTORS_SOAK_SCALE", "1"))
if not SOAK_SCALE > 0:
    raise ValueError(f"RSELECTORS_SOAK_SCALE must be > 0, not {SOAK_SCALE!r}")

#: Set by scripts/memcheck: the module under test is an AddressSanitizer build, whose
#: quarantine grows RSS by design (RSS bounds are skipped; everything else still runs).
UNDER_MEMCHECK = os.environ.get("RSELECTORS_MEMCHECK") == "1"

#: Figures collected by the reliability tests (ops run, signals sent...): printed at the end of
#: the run by ``report`` (see test files) and written to $RSELECTORS_RELIABILITY_REPORT if set.
FIGURES = []


def soak_count(full, minimum=1):
    """The soak variant's count: the issue's full figure times ``SOAK_SCALE``."""
    return max(minimum, int(full * SOAK_SCALE))


def record(name, **figures):
    """Record figures of one test run (printed with -s, appended to the report file)."""
    if UNDER_MEMCHECK:
        name = f"asan:{name}"  # the nested run of scripts/memcheck, not this interpreter's
    line = f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    FIGURES.append(line)
    print(f"\n[reliability] {line}")
    path = os.environ.get("RSELECTORS_RELIABILITY_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def is_panic(exc):
    """Whether ``exc`` is PyO3's PanicException (a Rust panic reached Python: always a bug)."""
    return type(exc).__name__ == "PanicException"


def join_all(threads, timeout, what="deadlock or livelock"):
    """Joins ``threads`` within ``timeout`` s in all; fails the test (with every thread's
    stack dumped) if one is still running."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        pytest.fail(f"{what}: threads still running after {timeout}s: {stuck}")


def outcome(func, *args, **kwargs):
    """``("ok", result)`` or ``("raise", type, args)``, catching BaseException too (a
    fileno() that raises KeyboardInterrupt is an input here); a Rust panic fails the test."""
    try:
        return ("ok", func(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - every exception is an outcome
        if is_panic(exc):
            pytest.fail(f"Rust panic reached Python: {exc!r}")
        return ("raise", type(exc), exc.args)


def norm(value):
    """A comparable form of a result: keys by key_tuple, sequences element-wise, events
    ints by value (the stdlib returns ``events & key.events``, whose type follows the type
    the user registered; ours are plain ints)."""
    if isinstance(value, stdlib.SelectorKey):
        return key_tuple(value)
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [norm(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return ("int", int(value))
    return ("obj", id(value))


def norm_outcome(o):
    if o[0] == "ok":
        return ("ok", norm(o[1]))
    return o


def snapshot(sel):
    """Registration state: the map in order (as key tuples) and what select(0) reports."""
    m = sel.get_map()
    if m is None:
        return ("closed",)
    keys = [(fd, key_tuple(k)) for fd, k in m.items()]
    ready = outcome(sel.select, 0)
    if ready[0] == "ok":
        ready = ("ok", sorted(norm(pair) for pair in ready[1]))
    return (len(m), keys, ready)


def rss_bytes():
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize()


def full_collect():
    for _ in range(3):
        gc.collect()


def raise_nofile(want):
    """Raise RLIMIT_NOFILE's soft limit towards ``want`` (up to the hard limit; raising the
    hard limit needs CAP_SYS_RESOURCE). Returns (old soft, new soft, hard); Windows, which has
    no such limit on sockets, (None, None, None)."""
    if resource is None:
        return None, None, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            except (ValueError, OSError):
                pass
    new_soft, new_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, new_soft, new_hard


class Stopwatch:
    def __init__(self):
        self.t0 = time.monotonic()

    @property
    def elapsed(self):
        return time.monotonic() - self.t0


PY_VERSION = sys.version_info[:2]
