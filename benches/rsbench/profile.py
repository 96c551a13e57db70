"""Where an echo server's CPU goes: the selector's share, sampled in the server itself.

One server process at a time (``echo.start_server``), pinned to the first CPU with ``--pin``,
is loaded by the load clients. The server runs a sampler (``sampler.install_sampler``, installed
by ``echo.serve`` when ``RSBENCH_PROFILE`` is set): a ``SIGPROF`` interval timer, which counts
the process's CPU time (user and kernel), fires ``--rate`` times per CPU second, and each
firing records the main thread's Python stack. A blocked ``select`` uses no CPU and so is
never sampled. CPython runs the handler at its next check between bytecodes, so time in native
code (a native selector's methods, ``select.epoll.poll``, ``socket.send``, and the kernel under
them) is recorded at the Python line that called it; a signal also interrupts a wait in the
kernel, whose retry (PEP 475) runs the handler at that line. The driver starts and stops the
sampling with ``SIGUSR2`` after a warm-up, and the server writes its samples to a file.

**The selector's share** is the fraction of samples inside a call to the selector: the stack
has a frame of the stdlib's ``selectors.py`` (any method of a selector class or of its
``get_map()`` mapping), or its innermost frame is at a line that calls a selector method
(``self._selector.select(timeout)``, ``sel.register(...)``: a native selector pushes no Python
frame, so its time, kernel included, is recorded there). Both rules apply to every
implementation; for the stdlib the second one catches only the calling line's own bytecode.

The breakdown names the method called, and shows two neighbours outside the selector:
asyncio's ``_process_events`` (reads ``key.fileobj`` and ``key.data`` of each ready key) and
the socket calls (``recv``/``send``, with the kernel's TCP work under them).
"""

import linecache
import os
import re
import signal
import tempfile
import time

from .echo import _kill, collect_load, proc_cpu_seconds, run_load, start_server
from .sampler import PROFILE_ENV

#: the selector methods, in print order
METHODS = ("select", "modify", "get_key", "get_map", "register", "unregister")
#: a Python frame, "qualname (path:line)"
_PY_FRAME = re.compile(r"^(.*) \((.+):(\d+)\)$")
#: a frame of the stdlib's selectors module ("EpollSelector.select (/.../selectors.py:469)")
_STDLIB_FRAME = re.compile(r"^(?:[\w<>]+\.)*(\w+) \((?:.*/)?selectors\.py:\d+\)$")
#: a source line that calls a selector method on the servers' selector
_CALL = re.compile(r"\b(?:sel|_selector)\.({})\(".format("|".join(METHODS)))
#: a source line with a socket call (the servers' recv/send)
_SOCKET = re.compile(r"\.(?:recv|recv_into|send|sendall|accept)\(")
#: stdlib ``selectors.py`` functions that are not themselves selector methods -> the method
#: they run under in these servers
_STDLIB_OWNER = {
    "_fileobj_lookup": "get_key",
    "_fileobj_to_fd": "get_key",
    "_key_from_fd": "select",
    "__getitem__": "get_map",
    "get": "get_map",
}


def parse_raw(text):
    """The sampler's ``stack count`` lines -> list of ``(frames, count)``, outermost frame first."""
    out = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            out.append((stack.split(";"), int(count)))
    return out


def classify(frames):
    """``(where, method)`` of one sample (outermost frame first): where is ``"selector"``,
    ``"process_events"``, ``"socket"`` or ``"other"``; method is the selector method called."""
    for frame in frames:
        m = _STDLIB_FRAME.match(frame)
        if m:
            return "selector", _STDLIB_OWNER.get(m.group(1), m.group(1))
    m = _PY_FRAME.match(frames[-1])
    source = linecache.getline(m.group(2), int(m.group(3))) if m else ""
    call = _CALL.search(source)
    if call:
        return "selector", call.group(1)
    if any(f.startswith("BaseSelectorEventLoop._process_events ") for f in frames):
        return "process_events", None
    if _SOCKET.search(source):
        return "socket", None
    return "other", None


def shares(stacks):
    """Summary of one profile: the samples, the selector's share and its breakdown by method,
    and the two neighbours, each a fraction of the samples."""
    total = sum(n for _, n in stacks)
    if not total:
        return None
    res = {"samples": total, "selector": 0.0, "process_events": 0.0, "socket": 0.0}
    methods = dict.fromkeys(METHODS, 0.0)
    for frames, n in stacks:
        where, method = classify(frames)
        if where != "other":
            res[where] += n / total
        if method:
            methods[method] = methods.get(method, 0.0) + n / total
    res["methods"] = methods
    return res


def profile_server(impl, kind, args):
    """Load one ``kind`` echo server on ``impl`` and sample it; return its summary dict (with
    ``busy``, its CPU utilisation while sampled, and ``rps``, the load's requests per second
    over the whole run)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "samples")
        os.environ[PROFILE_ENV] = f"{path},{args.rate}"
        try:
            proc, port = start_server(impl, kind, max_seconds=120 + args.warmup + args.duration)
        finally:
            del os.environ[PROFILE_ENV]
        procs = []
        try:
            cpus = sorted(os.sched_getaffinity(0))
            pin = args.pin and len(cpus) >= 2
            if pin:
                os.sched_setaffinity(proc.pid, {cpus[0]})
            length = args.warmup + args.duration + 1.0
            slots = [[0, length]]
            start, procs = run_load([port], args.clients, slots, args.msg_size, args.load_client)
            if pin:
                for p in procs:
                    os.sched_setaffinity(p.pid, set(cpus[1:]))
            time.sleep(max(0.0, start + args.warmup - time.time()))
            c0, t0 = proc_cpu_seconds(proc.pid), time.monotonic()
            proc.send_signal(signal.SIGUSR2)
            time.sleep(args.duration)
            proc.send_signal(signal.SIGUSR2)
            busy = (proc_cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
            requests = collect_load(procs, 1, timeout=length + 60)[0]
            deadline = time.monotonic() + 10
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.05)
            with open(path) as f:
                text = f.read()
        finally:
            for p in procs:
                _kill(p)
            _kill(proc)
            proc.stdout.close()
            proc.stderr.close()
    res = shares(parse_raw(text))
    if res is None:
        raise RuntimeError(f"no sample of the {kind} server on {impl}")
    res["busy"] = busy
    res["rps"] = requests / length
    if args.keep_raw:
        with open(os.path.join(args.keep_raw, f"{impl}-{kind}.txt"), "a") as f:
            f.write(text)
    return res


def _pct(x):
    return f"{100 * x:.1f}"


def print_profiles(results, impls, kinds, out):
    """One line per kind and implementation: the medians over the rounds (the selector's
    share also per round)."""
    import statistics

    head = ["kind", "impl", "samples", "busy%", "req/s", "selector%", "(rounds)"]
    head += [m for m in METHODS]
    head += ["_process_events%", "socket%"]
    rows = [head]
    for kind in kinds:
        for impl in impls:
            runs = results[kind][impl]

            def med(get, runs=runs):
                return statistics.median(get(r) for r in runs)

            row = [kind, impl, str(sum(r["samples"] for r in runs)), _pct(med(lambda r: r["busy"]))]
            row += [f"{med(lambda r: r['rps']):,.0f}", _pct(med(lambda r: r["selector"]))]
            row += ["/".join(_pct(r["selector"]) for r in runs)]
            row += [_pct(med(lambda r, m=m: r["methods"][m])) for m in METHODS]
            row += [_pct(med(lambda r: r["process_events"])), _pct(med(lambda r: r["socket"]))]
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.write("  ".join(cells).rstrip() + "\n")


def main(argv, prog=None):
    """``echo_load.py profile``: every kind on every implementation, ``--rounds`` times in
    rotated order; prints the table (the medians of the rounds)."""
    import argparse
    import sys

    from .common import rotations
    from .echo import SERVER_KINDS

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--impls", default="selectors,rselectors", help="comma-separated modules")
    p.add_argument("--kinds", default=",".join(SERVER_KINDS), help="server kinds")
    p.add_argument("--rounds", type=int, default=3, help="profiles per kind and impl")
    p.add_argument("--duration", type=float, default=8.0, help="seconds sampled per profile")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before sampling")
    p.add_argument("--rate", type=int, default=1000, help="samples per CPU second")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--msg-size", type=int, default=32)
    p.add_argument("--pin", action="store_true", help="server on the first CPU, the rest else")
    p.add_argument("--load-client", metavar="PATH", help="native client (benches/loadgen)")
    p.add_argument("--keep-raw", metavar="DIR", help="append the sampled stacks here")
    args = p.parse_args(argv)
    if args.load_client:
        args.load_client = os.path.abspath(args.load_client)
    impls = [i for i in args.impls.split(",") if i]
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in SERVER_KINDS]
    if unknown:
        p.error(f"unknown kind(s): {', '.join(unknown)}")
    results = {k: {i: [] for i in impls} for k in kinds}
    for order in rotations(impls, args.rounds):
        for kind in kinds:
            for impl in order:
                sys.stderr.write(f"profiling {kind} on {impl}\n")
                results[kind][impl].append(profile_server(impl, kind, args))
    print_profiles(results, impls, kinds, sys.stdout)
    return 0
