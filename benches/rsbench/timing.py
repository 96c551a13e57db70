"""The timer of the micro cases: generated loops, calibrated and run interleaved.

Each repeat is an unrolled loop of ``n`` iterations (``n`` calibrated so that one repeat takes
about the target time), timed with the GC disabled, after a warm-up; the sides (one per
implementation) take turns: A B C, C B A, A B C, ...
"""

import gc
import time

#: timers for the micro cases: wall time (the default) or this thread's CPU time, which does not
#: count the time the process waits for a CPU on a busy machine (it still counts kernel time)
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}

#: how many times the timed statement is repeated inside one loop iteration
UNROLL = 10


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
    each in alternating order (A B C, C B A, ...). Returns ``(samples, iterations)``.
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
