"""asyncio wake-ups: ``wakeup()`` against asyncio's self-pipe, on the same rselectors selector.

Run: ``python -m rselectors._asyncio_bench [--quick] [--json OUT]``.

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
  processes doing blocking ping-pong; round trips per second. Nothing crosses threads here:
  it checks that the ordinary I/O path is not slower.

Reports only; nothing asserts on time.
"""

import argparse
import asyncio
import json
import os
import platform
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time

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


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def rotations(variants, rounds):
    """``rounds`` orders of ``variants``, each rotated by one (A B C, B C A, C A B, ...)."""
    n = len(variants)
    for r in range(rounds):
        yield variants[r % n :] + variants[: r % n]


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
            "p90_us": pct(x, 0.90) / 1e3,
            "p99_us": pct(x, 0.99) / 1e3,
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
    return {v: {"median_us": statistics.median(x), "n": len(x), "us": x} for v, x in res.items()}


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
    return {
        v: {
            "median_per_s": statistics.median(rate[v]),
            "median_cpu_ns": statistics.median(cpu[v]),
            "n": len(rate[v]),
            "rates": rate[v],
            "cpu_ns": cpu[v],
        }
        for v in loops
    }


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
    return {v: {"median_ns": statistics.median(x), "n": len(x), "ns": x} for v, x in res.items()}


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
    return {
        v: {
            "median_us": statistics.median(wall[v]),
            "median_cpu_us": statistics.median(cpu[v]),
            "n": len(wall[v]),
            "wall_us": wall[v],
            "cpu_us": cpu[v],
        }
        for v in variants
    }


# -- echo: servers and clients in their own processes -------------------------------------


def serve(variant):
    from rselectors._bench import echo_stream

    async def main():
        server = await asyncio.start_server(echo_stream, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    loop = make_loop(variant)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())


def client(port, duration, size):
    """Connect, say "ready", wait for "go" on stdin, ping-pong for ``duration``, print count."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * size
    print("ready", flush=True)
    sys.stdin.readline()
    end = time.monotonic() + duration
    count = 0
    while time.monotonic() < end:
        s.sendall(msg)
        got = 0
        while got < size:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("server closed")
            got += len(chunk)
        count += 1
    s.close()
    print(count, flush=True)


def _self_cmd(*args):
    here = os.path.abspath(__file__)
    boot = (
        "import runpy,sys; sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return [sys.executable, "-c", boot, here, *map(str, args)]


def _cpu_s(pid):
    """utime + stime of a process in seconds (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def case_echo(variants, rounds, duration, clients, size):
    """Round trips per second, and the server's CPU time per round trip (Linux)."""
    servers, ports = {}, {}
    rate = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    try:
        for v in variants:
            p = subprocess.Popen(_self_cmd("--serve", v), stdout=subprocess.PIPE, text=True)
            servers[v] = p
            ports[v] = int(p.stdout.readline())
        for r, order in enumerate(rotations(variants, rounds + 1)):  # round 0 warms up
            for v in order:
                procs = [
                    subprocess.Popen(
                        _self_cmd("--client", ports[v], duration, size),
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    for _ in range(clients)
                ]
                for p in procs:
                    if p.stdout.readline().strip() != "ready":
                        raise RuntimeError("echo client failed to connect")
                c0 = _cpu_s(servers[v].pid)
                for p in procs:
                    p.stdin.write("go\n")
                    p.stdin.flush()
                total = sum(int(p.communicate(timeout=duration + 60)[0]) for p in procs)
                c1 = _cpu_s(servers[v].pid)
                if r:
                    rate[v].append(total / duration)
                    if c0 is not None and c1 is not None and total:
                        cpu[v].append((c1 - c0) / total * 1e6)
    finally:
        for p in servers.values():
            p.kill()
            p.wait()
    return {
        v: {
            "median_per_s": statistics.median(rate[v]),
            "median_cpu_us": statistics.median(cpu[v]) if cpu[v] else float("nan"),
            "n": len(rate[v]),
            "rates": rate[v],
            "cpu_us": cpu[v],
        }
        for v in variants
    }


# -- driver --------------------------------------------------------------------------------


def run(args):
    variants = list(VARIANTS)
    quick = args.quick
    out = {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "quick": quick,
    }
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
    load = m.get("loadavg")
    load = f", load average {load[0]:.1f}" if load else ""
    print(f"Python {m['python']} on {m['platform']}, {m['cpus']} CPUs{load}")
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
    p = argparse.ArgumentParser(prog="python -m rselectors._asyncio_bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a short run (~15 s)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.add_argument("--no-echo", action="store_true", help="skip the echo case")
    p.add_argument("--cases", default="", help="comma-separated subset of: " + ", ".join(CASES))
    p.add_argument("--samples", type=int, help="latency samples per variant")
    p.add_argument("--clients", type=int, default=4, help="echo client processes (default 4)")
    p.add_argument("--msg-size", type=int, default=100, help="echo message bytes (default 100)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--serve", help=argparse.SUPPRESS)
    p.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.client:
        port, duration, size = args.client
        client(int(port), float(duration), int(size))
        return 0
    out = run(args)
    print_table(out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
