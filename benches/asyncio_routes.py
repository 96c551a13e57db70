#!/usr/bin/env python3
"""A cross-thread asyncio workload on each way of running asyncio with rselectors.

One run of one route runs this on a fresh event loop, made the way the route makes it:

``burst``     4 threads x 5,000 ``loop.call_soon_threadsafe(callback)``: from starting the
              threads to the last callback run on the loop;
``to_thread`` 2,000 ``await asyncio.to_thread(int)`` in turn (loop -> worker -> loop);
``pingpong``  one thread calls ``asyncio.run_coroutine_threadsafe(coro, loop).result()``
              5,000 times in turn (worker -> loop -> worker).

Each phase is timed in wall time (``time.perf_counter``) and process CPU time
(``time.process_time``, every thread). Runs are interleaved: run ``i`` goes through every route
once, in an order rotated by ``i``; the table shows medians over ``--runs`` (default 7), the
ratio of each median to the stdlib's ``asyncio.run``, and the spread of each route's runs.

Routes (those that need a newer Python are left out on older ones):

* ``asyncio.run``: the stdlib loop on the stdlib selector (the reference);
* ``rselectors.run``: ``rselectors.run(main())``;
* ``Runner(loop_factory)``: ``asyncio.Runner(loop_factory=rselectors.new_event_loop)`` (3.11+);
* ``asyncio.run(loop_factory)``: ``asyncio.run(main(), loop_factory=rselectors.new_event_loop)``
  (3.12+);
* ``EventLoopPolicy``: ``asyncio.set_event_loop_policy(rselectors.EventLoopPolicy())``, then
  ``asyncio.run(main())``;
* ``install()``: ``rselectors.install()``, then ``asyncio.run(main())``;
* ``SelectorEventLoop(DefaultSelector())``: ``asyncio.SelectorEventLoop(
  rselectors.DefaultSelector())`` driven by hand.

The header says, for each route, which loop class and selector it ran on and whether
cross-thread wake-ups went through ``wakeup()`` or asyncio's self-pipe.

    python benches/asyncio_routes.py [--runs 7] [--quick] [--json out.json]
"""

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
import warnings

import rselectors

PHASES = ("burst", "to_thread", "pingpong")


class Sizes:
    def __init__(self, quick):
        scale = 20 if quick else 1
        self.threads = 4
        self.per_thread = 5000 // scale
        self.to_thread = 2000 // scale
        self.pingpong = 5000 // scale

    def describe(self):
        return (
            f"burst: {self.threads} threads x {self.per_thread:,} call_soon_threadsafe; "
            f"to_thread: {self.to_thread:,} in turn; "
            f"pingpong: {self.pingpong:,} run_coroutine_threadsafe(...).result() in turn"
        )


def clocks():
    return time.perf_counter(), time.process_time()


def since(start):
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


async def workload(sizes):
    """The three phases on the running loop: {phase: (wall s, cpu s)}, plus what ran it."""
    loop = asyncio.get_running_loop()
    out = {}

    done = loop.create_future()
    remaining = [sizes.threads * sizes.per_thread]

    def tick():
        remaining[0] -= 1
        if remaining[0] == 0:
            done.set_result(None)

    def produce():
        for _ in range(sizes.per_thread):
            loop.call_soon_threadsafe(tick)

    producers = [threading.Thread(target=produce) for _ in range(sizes.threads)]
    start = clocks()
    for t in producers:
        t.start()
    await done
    out["burst"] = since(start)
    for t in producers:
        t.join()

    start = clocks()
    for _ in range(sizes.to_thread):
        await asyncio.to_thread(int)
    out["to_thread"] = since(start)

    async def pong():
        return None

    def ping():
        for _ in range(sizes.pingpong):
            asyncio.run_coroutine_threadsafe(pong(), loop).result()

    start = clocks()
    await asyncio.to_thread(ping)
    out["pingpong"] = since(start)

    selector = loop._selector
    wakeup = getattr(selector, "wakeup", None)
    uses_wakeup = wakeup is not None and loop._write_to_self == wakeup
    out["ran_on"] = {
        "loop": f"{type(loop).__module__}.{type(loop).__qualname__}",
        "selector": f"{type(selector).__module__}.{type(selector).__qualname__}",
        "wake-up": "wakeup()" if uses_wakeup else "self-pipe",
    }
    return out


def route_stdlib(main):
    return asyncio.run(main)


def route_rselectors_run(main):
    return rselectors.run(main)


def route_runner(main):
    with asyncio.Runner(loop_factory=rselectors.new_event_loop) as runner:
        return runner.run(main)


def route_asyncio_run_loop_factory(main):
    return asyncio.run(main, loop_factory=rselectors.new_event_loop)


def route_policy(main):
    with warnings.catch_warnings():  # policies are deprecated from 3.14 on
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(rselectors.EventLoopPolicy())
    try:
        return asyncio.run(main)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(None)


def route_install(main):
    rselectors.install()
    try:
        return asyncio.run(main)
    finally:
        rselectors.uninstall()


def route_by_hand(main):
    loop = asyncio.SelectorEventLoop(rselectors.DefaultSelector())
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def routes():
    out = {"asyncio.run": route_stdlib, "rselectors.run": route_rselectors_run}
    if sys.version_info >= (3, 11):
        out["Runner(loop_factory)"] = route_runner
    if sys.version_info >= (3, 12):
        out["asyncio.run(loop_factory)"] = route_asyncio_run_loop_factory
    out["EventLoopPolicy"] = route_policy
    out["install()"] = route_install
    out["SelectorEventLoop(DefaultSelector())"] = route_by_hand
    return out


def measure(runs, sizes, progress):
    table = routes()
    names = list(table)
    samples = {name: {phase: [] for phase in PHASES} for name in names}
    ran_on = {}
    for i in range(runs):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            gc.collect()
            result = table[name](workload(sizes))
            ran_on[name] = result.pop("ran_on")
            for phase in PHASES:
                samples[name][phase].append(result[phase])
        if progress:
            print(f"run {i + 1}/{runs} done", file=sys.stderr, flush=True)
    return samples, ran_on


def report(samples, ran_on, args, sizes):
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# benches/asyncio_routes.py: a cross-thread asyncio workload per way of running asyncio",
        f"# command: python benches/asyncio_routes.py {' '.join(sys.argv[1:])}".rstrip(),
        (
            f"# CPython {platform.python_version()}, {platform.system()} {platform.release()}, "
            f"{os.cpu_count()} CPUs, rselectors {rselectors.__version__} "
            f"({os.path.basename(rselectors._rselectors.__file__)}), load average at start "
            f"{args.load_at_start:.2f}, at end {load:.2f}"
        ),
        f"# {sizes.describe()}",
        f"# medians of {args.runs} interleaved runs; ms; (x) = ratio to asyncio.run's median",
        "",
    ]
    width = max(len(n) for n in samples)
    lines.append(f"{'route':<{width}}  loop / selector / cross-thread wake-up")
    for name in samples:
        r = ran_on[name]
        lines.append(f"{name:<{width}}  {r['loop']} / {r['selector']} / {r['wake-up']}")
    lines.append("")

    def medians(name, phase):
        walls = [w for w, _ in samples[name][phase]]
        cpus = [c for _, c in samples[name][phase]]
        return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3

    def spread(name, k):
        """Interquartile range of the runs' totals, in % of their median (the noise)."""
        totals = [sum(samples[name][p][i][k] for p in PHASES) for i in range(args.runs)]
        if len(totals) < 4:
            return float("nan")
        q1, _, q3 = statistics.quantiles(totals, n=4)
        return (q3 - q1) / statistics.median(totals) * 100

    header = f"{'route':<{width}}"
    for phase in (*PHASES, "total"):
        header += f"  {phase + ' wall':>17}  {phase + ' CPU':>17}"
    header += "  spread wall/CPU"
    lines.append(header)
    base = {phase: medians("asyncio.run", phase) for phase in PHASES}
    base_total = tuple(sum(base[p][k] for p in PHASES) for k in (0, 1))
    for name in samples:
        row = f"{name:<{width}}"
        per_phase = {phase: medians(name, phase) for phase in PHASES}
        per_phase["total"] = tuple(sum(per_phase[p][k] for p in PHASES) for k in (0, 1))
        for phase in (*PHASES, "total"):
            ref = base_total if phase == "total" else base[phase]
            for k in (0, 1):
                value = per_phase[phase][k]
                row += f"  {value:>9.1f} ({value / ref[k]:.2f})"
        row += f"  {spread(name, 0):>5.0f}%/{spread(name, 1):.0f}%"
        lines.append(row)
    lines.append(
        "# total = the sum of the three phases' medians; spread = interquartile range of the"
        " runs' totals in % of their median"
    )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7, help="interleaved runs per route (default 7)")
    p.add_argument("--quick", action="store_true", help="1/20 of the workload (a smoke run)")
    p.add_argument("--json", metavar="PATH", help="write every sample and the routes' loops")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    sizes = Sizes(args.quick)
    samples, ran_on = measure(args.runs, sizes, not args.no_progress)
    print(report(samples, ran_on, args, sizes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "python": platform.python_version(),
                    "runs": args.runs,
                    "sizes": vars(sizes),
                    "ran_on": ran_on,
                    "samples": samples,
                },
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
