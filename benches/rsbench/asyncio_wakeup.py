"""asyncio wake-ups: ``wakeup()`` against asyncio's self-pipe, on the same rselectors selector.

Run: ``python benches/asyncio_wakeup.py [--quick] [--json OUT]``.

Variants (every loop is a plain ``asyncio`` ``SelectorEventLoop`` underneath):

* ``wakeup``: ``rselectors.new_event_loop()``, ``call_soon_threadsafe`` calls the selector's
  native ``wakeup()``;
* ``selfpipe``: ``asyncio.SelectorEventLoop(rselectors.DefaultSelector())``, asyncio's own
  wake-up (one byte sent on a socketpair per call);
* ``stdlib``: ``asyncio.SelectorEventLoop()`` on the stdlib selector, for reference.

Cases, each run for all variants interleaved (rounds rotate the order):

* ``latency``: a loop idle in ``select()`` (no timeout) in its own thread; another thread calls
  ``call_soon_threadsafe(cb)``; time until ``cb`` runs (median and p99, microseconds);
* ``burst``: 4 threads each call ``call_soon_threadsafe`` ``n`` times as fast as they can;
  callbacks run per second;
* ``inloop``: the loop thread itself calls ``call_soon_threadsafe`` ``n`` times in a row (the
  raw cost of one call, nanoseconds);
* ``executor``: sequential ``await loop.run_in_executor(None, int)`` round trips (the result
  comes back with ``call_soon_threadsafe``), microseconds each;
* ``echo``: an asyncio-streams echo server per variant in its own process, loaded by client
  processes doing blocking ping-pong (the engine's ``echo.run_echo``: the clients switch
  servers together, rounds rotate the order); round trips per second. Nothing crosses
  threads here: it checks that the ordinary I/O path is not slower.

Reports only; nothing asserts on time.
"""

import argparse
import asyncio
import json
import selectors
import statistics
import sys
import threading
import time

from .common import rotations
from .echo import run_echo
from .report import machine_info
from .stats import percentile

VARIANTS = ("wakeup", "selfpipe", "stdlib")
CASES = ("latency", "pingpong", "burst", "inloop", "executor", "echo")


def make_loop(variant):
    import rselectors

    if variant == "wakeup":
        return rselectors.new_event_loop()
    if variant == "selfpipe":
        return asyncio.SelectorEventLoop(rselectors.DefaultSelector())
    if variant == "stdlib":
        return asyncio.SelectorEventLoop(selectors.DefaultSelector())
    raise ValueError(variant)


class LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self, variant):
        self.loop = make_loop(variant)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def medians(**series):
    """``{name: samples, "median_" + name: their median}`` for each series, and ``n``."""
    out = {"n": len(next(iter(series.values())))}
    for name, x in series.items():
        out[name] = x
        out["median_" + name] = statistics.median(x) if x else float("nan")
    return out


def case_latency(loops, samples):
    """Wall time from call_soon_threadsafe() in this thread to the callback in an idle loop."""
    now = time.perf_counter_ns
    out = {v: [] for v in loops}
    done = threading.Semaphore(0)

    def cb(t0, dest):
        dest.append(now() - t0)
        done.release()

    # Finest interleaving: one sample per variant in turn, so machine noise hits all alike.
    for order in rotations(list(loops), samples):
        for v in order:
            time.sleep(0.0002)  # let that loop go back to sleep in select()
            loops[v].loop.call_soon_threadsafe(cb, now(), out[v])
            done.acquire()
    return {
        v: {
            "median_us": statistics.median(x) / 1e3,
            "p90_us": percentile(sorted(x), 90) / 1e3,
            "p99_us": percentile(sorted(x), 99) / 1e3,
            "n": len(x),
            "samples_ns": x,
        }
        for v, x in out.items()
    }


def case_pingpong(loops, rounds, n):
    """Round trips: this thread calls call_soon_threadsafe(cb), cb releases a semaphore this
    thread waits on, repeat at once. Unlike ``latency`` it includes the loop's own work after
    the callback (the self-pipe's read), since the next call waits for the loop to be free."""
    res = {v: [] for v in loops}
    done = threading.Semaphore(0)
    release = done.release
    for order in rotations(list(loops), rounds):
        for v in order:
            call = loops[v].loop.call_soon_threadsafe
            t0 = time.perf_counter_ns()
            for _ in range(n):
                call(release)
                done.acquire()
            res[v].append((time.perf_counter_ns() - t0) / n / 1e3)
    return {v: medians(us=x) for v, x in res.items()}


def case_burst(loops, rounds, n, threads=4):
    """``threads`` threads call call_soon_threadsafe ``n`` times each; wall rate, CPU per call."""
    rate = {v: [] for v in loops}
    cpu = {v: [] for v in loops}
    for order in rotations(list(loops), rounds):
        for v in order:
            loop = loops[v].loop
            counter = [0]
            finished = threading.Event()

            def tick(counter=counter):
                counter[0] += 1

            def produce(call=loop.call_soon_threadsafe, tick=tick):
                for _ in range(n):
                    call(tick)

            workers = [threading.Thread(target=produce) for _ in range(threads)]
            c0, t0 = time.process_time(), time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            loop.call_soon_threadsafe(finished.set)
            finished.wait()
            elapsed, used = time.perf_counter() - t0, time.process_time() - c0
            assert counter[0] == n * threads
            rate[v].append(n * threads / elapsed)
            cpu[v].append(used / (n * threads) * 1e9)
    return {v: medians(per_s=rate[v], cpu_ns=cpu[v]) for v in loops}


def case_inloop(loops, rounds, n):
    """CPU time (this thread's) of one call_soon_threadsafe() made by the loop thread itself."""
    res = {v: [] for v in loops}
    for order in rotations(list(loops), rounds):
        for v in order:
            loop = loops[v].loop
            result = []
            finished = threading.Event()

            def run(loop=loop, result=result, finished=finished):
                call = loop.call_soon_threadsafe
                noop = int
                t0 = time.thread_time_ns()
                for _ in range(n):
                    call(noop)
                result.append((time.thread_time_ns() - t0) / n)
                finished.set()

            loop.call_soon_threadsafe(run)
            finished.wait()
            res[v].append(result[0])
    return {v: medians(ns=x) for v, x in res.items()}


def case_executor(variants, rounds, n):
    """Sequential run_in_executor(None, int) round trips: wall µs and process CPU µs each."""
    wall = {v: [] for v in variants}
    cpu = {v: [] for v in variants}

    async def trips(v):
        loop = asyncio.get_running_loop()
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await loop.run_in_executor(None, int)
        wall[v].append((time.perf_counter() - t0) / n * 1e6)
        cpu[v].append((time.process_time() - c0) / n * 1e6)

    loops = {v: make_loop(v) for v in variants}
    try:
        for loop in loops.values():
            loop.run_until_complete(loop.run_in_executor(None, int))  # start the worker
        for order in rotations(variants, rounds):
            for v in order:
                loops[v].run_until_complete(trips(v))
    finally:
        for loop in loops.values():
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
    return {v: medians(us=wall[v], cpu_us=cpu[v]) for v in variants}


#: the echo case's servers: implementation and loop (see ``echo.LOOPS``) of each variant
ECHO_SERVERS = {
    "wakeup": ("rselectors", "new_event_loop"),
    "selfpipe": ("rselectors", "selector"),
    "stdlib": ("selectors", "selector"),
}


def case_echo(variants, rounds, duration, clients, size):
    """Round trips per second, and the server's CPU time per round trip (Linux)."""
    impls, loops = zip(*(ECHO_SERVERS[v] for v in variants))
    runs = run_echo(
        list(impls), "asyncio-streams", clients, rounds, duration, size, loops=list(loops)
    )["runs"]
    out = {}
    for v, slots in zip(variants, runs):
        rate = [s["rps"] for s in slots]
        cpu = [s["server_cpu_us_per_req"] for s in slots if "server_cpu_us_per_req" in s]
        out[v] = medians(per_s=rate, cpu_us=cpu)
    return out


# -- driver --------------------------------------------------------------------------------


def run(args):
    variants = list(VARIANTS)
    quick = args.quick
    out = {"machine": machine_info(["rselectors"]), "quick": quick}
    say = (lambda m: None) if args.no_progress else (lambda m: print(m, file=sys.stderr))
    cases = set(args.cases.split(",")) if args.cases else set(CASES)
    if args.no_echo:
        cases.discard("echo")
    loops = {v: LoopThread(v) for v in variants}
    try:
        if "latency" in cases:
            say("latency ...")
            out["latency"] = case_latency(loops, args.samples or (200 if quick else 3000))
        if "pingpong" in cases:
            say("pingpong ...")
            out["pingpong"] = case_pingpong(loops, 10 if quick else 60, 100 if quick else 300)
        if "burst" in cases:
            say("burst ...")
            out["burst"] = case_burst(loops, 5 if quick else 30, 1000 if quick else 5000)
        if "inloop" in cases:
            say("inloop ...")
            out["inloop"] = case_inloop(loops, 15 if quick else 101, 2000)
    finally:
        for lt in loops.values():
            lt.close()
    if "executor" in cases:
        say("executor ...")
        out["executor"] = case_executor(variants, 5 if quick else 30, 200 if quick else 500)
    if "echo" in cases:
        say("echo ...")
        out["echo"] = case_echo(
            variants, 1 if quick else 6, 0.5 if quick else 1.5, args.clients, args.msg_size
        )
    return out


ROWS = [
    # case, key, unit, label, lower is better
    ("latency", "median_us", "µs", "call_soon_threadsafe -> callback, idle loop, median", True),
    ("latency", "p90_us", "µs", "  the same, p90", True),
    ("latency", "p99_us", "µs", "  the same, p99", True),
    ("pingpong", "median_us", "µs", "call_soon_threadsafe ping-pong, per round trip", True),
    ("burst", "median_per_s", "/s", "4 threads x call_soon_threadsafe: callbacks/s", False),
    ("burst", "median_cpu_ns", "ns", "  the same: process CPU per callback", True),
    ("inloop", "median_ns", "ns", "call_soon_threadsafe in the loop thread: CPU/call", True),
    ("executor", "median_us", "µs", "run_in_executor(None, int) round trip, wall", True),
    ("executor", "median_cpu_us", "µs", "  the same: process CPU per round trip", True),
    ("echo", "median_per_s", "/s", "asyncio-streams echo: round trips/s", False),
    ("echo", "median_cpu_us", "µs", "  the same: server CPU per round trip", True),
]


def print_table(out):
    m = out["machine"]
    load = f", load average {m['loadavg'][0]:.1f}" if "loadavg" in m else ""
    print(f"{m['python']} on {m['kernel']}, {m['cpu']}, {m['cores']} cores{load}")
    head = f"{'case':<54}{'wakeup':>11}{'selfpipe':>11}{'stdlib':>11}{'wakeup/selfpipe':>17}"
    print(head)
    print("-" * len(head))
    for case, key, unit, label, _lower in ROWS:
        if case not in out:
            continue
        vals = [out[case][v][key] for v in VARIANTS]
        ratio = vals[0] / vals[1] if vals[1] else float("nan")
        cells = "".join(f"{x:>9.3g}{unit:<2}" for x in vals)
        print(f"{label:<54}{cells}{ratio:>17.2f}")
    print("(medians of interleaved repeats; lower is better for µs/ns rows, higher for /s rows)")


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="asyncio_wakeup.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="a short run (~15 s)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.add_argument("--no-echo", action="store_true", help="skip the echo case")
    p.add_argument("--cases", default="", help="comma-separated subset of: " + ", ".join(CASES))
    p.add_argument("--samples", type=int, help="latency samples per variant")
    p.add_argument("--clients", type=int, default=4, help="echo client processes (default 4)")
    p.add_argument("--msg-size", type=int, default=100, help="echo message bytes (default 100)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    out = run(args)
    print_table(out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0
