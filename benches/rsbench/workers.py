"""Worker processes: each micro, memory or timeout case runs in a fresh interpreter.

``run_worker(args)`` starts ``python -c <boot> benches/ MODE ...`` (see ``common.worker_cmd``)
and returns the JSON dict the worker prints last; ``main(argv)`` is the worker's side. The
modes ``server`` and ``client`` run an echo server or a Python load client (``echo``).
"""

import gc
import json
import os
import statistics
import subprocess
import sys
import time

from .cases import MICRO_CASES, CaseError
from .common import EVENT_READ, FdPool, class_name, import_impl, raise_nofile, worker_cmd
from .echo import load_client, serve
from .stats import percentile, summarize
from .timing import UNROLL, make_loop, time_interleaved

#: the C floor's place among the implementations (with ``--floor``): it also times the
#: kernel's share
FLOOR_AT = 2

#: backends whose bare system calls the floor can time (``cases.*.kernel``)
KERNEL_BACKENDS = ("epoll", "poll", "select")


def _ratio(values, samples, i, j):
    """``values[i] / values[j]`` and the median of the per-repeat ratios (paired: each pair of
    samples was taken back to back)."""
    paired = sorted(y / x for x, y in zip(samples[j], samples[i]) if x)
    return (
        values[i] / values[j] if values[j] else float("nan"),
        statistics.median(paired) if paired else float("nan"),
    )


def run_micro(spec, impls, repeats, target_ns, clock="wall"):
    """Run one micro case in this process, every implementation interleaved; return a result.

    ``values``, ``stats`` and ``samples`` have one entry per implementation (each must have
    the case's selector class, else the case is skipped); ``ratio`` is B/A and, with a third
    implementation (the floor), ``ratio_floor`` is B/C, ``kernel`` the case's bare system calls timed beside them
    (median 0 if it makes none) and ``kernel_share`` = kernel / A: no implementation's B/A
    can go below it.
    """
    cls_name = class_name(spec["backend"])
    pool = FdPool()
    sels = []
    try:
        params = dict(spec["params"], case=spec["case"])
        case = MICRO_CASES[spec["case"]](pool, spec["backend"], params)
        sides = []
        for name in impls:
            mod = import_impl(name)
            cls = getattr(mod, cls_name, None)
            if cls is None:
                raise CaseError(f"skipped: {name} has no {cls_name}")
            sel, ns, stmt, ops = case.make(mod, cls)
            sels.append(sel)
            sides.append((make_loop(ns, stmt), ns, UNROLL * ops))
        kernel = None
        if len(impls) > FLOOR_AT and spec["backend"] in KERNEL_BACKENDS:
            floor = import_impl(impls[FLOOR_AT])
            kernel = case.kernel(floor, spec["backend"], sels[FLOOR_AT]) or ()
            if kernel:
                ns, stmt, ops = kernel
                sides.append((make_loop(ns, stmt), ns, UNROLL * ops))
        timed, counts = time_interleaved(sides, repeats, target_ns, clock)
        samples, n = timed[: len(impls)], counts[: len(impls)]
        row = {"unit": case.unit, "iterations": n, "unroll": UNROLL}
        if getattr(case, "fds", None):
            row["fds"] = case.fds
        row["samples"] = samples
        row["stats"] = [summarize(s) for s in samples]
        row["values"] = [st["median"] for st in row["stats"]]
        row["ratio"], row["paired_ratio"] = _ratio(row["values"], samples, 1, 0)
        if len(impls) > FLOOR_AT:
            row["ratio_floor"], row["paired_ratio_floor"] = _ratio(row["values"], samples, 1, 2)
        if kernel is not None:
            # the bare system calls: () when the case makes none
            k = summarize(timed[-1]) if kernel else None
            row["kernel"] = {
                "median": k["median"] if k else 0.0,
                "stats": k,
                "iterations": counts[-1] if kernel else 0,
            }
            row["kernel_share"] = row["kernel"]["median"] / row["values"][0]
        return row
    finally:
        for sel in sels:
            sel.close()
        pool.close()


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
    cls = getattr(mod, class_name(backend), None)
    if cls is None:
        return {"error": f"skipped: {impl} has no {class_name(backend)}"}
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


def run_timeouts(spec, impls, samples):
    """Overshoot (elapsed - t) of ``select(t)`` with nothing ready, the sides interleaved."""
    cls_name = class_name(spec["backend"])
    pool = FdPool()
    idle = pool.idle(1)
    sels = []
    try:
        for name in impls:
            cls = getattr(import_impl(name), cls_name, None)
            if cls is None:
                raise CaseError(f"skipped: {name} has no {cls_name}")
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


def _micro(arg):
    return run_micro(*json.loads(arg))


def _timeout(arg):
    return run_timeouts(*json.loads(arg))


def _memory(impl, backend, registrations):
    return run_memory(impl, backend, int(registrations))


#: worker modes that print one JSON result
MEASURE = {"micro": _micro, "timeout": _timeout, "memory": _memory}


def main(argv):
    """A worker: ``MODE ARGS...``; a measuring mode prints its result (or error) as JSON."""
    mode, args = argv[0], argv[1:]
    if mode in MEASURE:
        try:
            res = MEASURE[mode](*args)
        except CaseError as e:
            res = {"error": str(e)}
        except Exception as e:  # noqa: BLE001 - report it, do not crash the whole run
            res = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res))
        return 0
    if mode == "server":
        impl, kind, port, selector, max_seconds, loop = args
        serve(impl, kind, int(port), selector, float(max_seconds), loop)
        return 0
    if mode == "client":
        ports = [int(p) for p in args[0].split(",")]
        return load_client(ports, float(args[1]), json.loads(args[2]), int(args[3]))
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
