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


def case_latency(loops, rounds, per_round):
    now = time.perf_counter_ns
    samples = {v: [] for v in loops}
    done = threading.Semaphore(0)

    def cb(t0, out):
        out.append(now() - t0)
        done.release()

    variants = list(loops)
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for v in order:
            call, out = loops[v].loop.call_soon_threadsafe, samples[v]
            for _ in range(per_round):
                time.sleep(0.0003)  # let the loop go back to sleep in select()
                call(cb, now(), out)
                done.acquire()
    return {
        v: {"median_us": statistics.median(s) / 1e3, "p99_us": pct(s, 0.99) / 1e3, "n": len(s)}
        for v, s in samples.items()
    }


def case_burst(loops, rounds, n, threads=4):
    res = {v: [] for v in loops}
    variants = list(loops)
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
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
            t0 = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            loop.call_soon_threadsafe(finished.set)
            finished.wait()
            elapsed = time.perf_counter() - t0
            assert counter[0] == n * threads
            res[v].append(n * threads / elapsed)
    return {v: {"median_per_s": statistics.median(x), "n": len(x)} for v, x in res.items()}


def case_inloop(loops, rounds, n):
    res = {v: [] for v in loops}
    variants = list(loops)
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for v in order:
            loop = loops[v].loop
            result = []
            finished = threading.Event()

            def run(loop=loop, result=result, finished=finished):
                call = loop.call_soon_threadsafe
                noop = int
                t0 = time.perf_counter_ns()
                for _ in range(n):
                    call(noop)
                result.append((time.perf_counter_ns() - t0) / n)
                finished.set()

            loop.call_soon_threadsafe(run)
            finished.wait()
            res[v].append(result[0])
    return {v: {"median_ns": statistics.median(x), "n": len(x)} for v, x in res.items()}


def case_executor(variants, rounds, n):
    res = {v: [] for v in variants}

    async def trips():
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, int)  # start the worker thread
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await loop.run_in_executor(None, int)
        return (time.perf_counter_ns() - t0) / n / 1e3

    loops = {v: make_loop(v) for v in variants}
    try:
        for r in range(rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for v in order:
                res[v].append(loops[v].run_until_complete(trips()))
    finally:
        for loop in loops.values():
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
    return {v: {"median_us": statistics.median(x), "n": len(x)} for v, x in res.items()}


# -- echo: servers and clients in their own processes -------------------------------------


def serve(variant):
    async def handle(reader, writer):
        while True:
            data = await reader.read(1000)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
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
    boot = "import runpy,sys; sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    return [sys.executable, "-c", boot, here, *map(str, args)]


def case_echo(variants, rounds, duration, clients, size):
    servers, ports = {}, {}
    try:
        for v in variants:
            p = subprocess.Popen(_self_cmd("--serve", v), stdout=subprocess.PIPE, text=True)
            servers[v] = p
            ports[v] = int(p.stdout.readline())
        res = {v: [] for v in variants}
        for r in range(rounds + 1):  # round 0 warms up
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
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
                for p in procs:
                    p.stdin.write("go\n")
                    p.stdin.flush()
                total = sum(int(p.communicate(timeout=duration + 60)[0]) for p in procs)
                if r:
                    res[v].append(total / duration)
    finally:
        for p in servers.values():
            p.kill()
            p.wait()
    return {v: {"median_per_s": statistics.median(x), "n": len(x)} for v, x in res.items()}


# -- driver --------------------------------------------------------------------------------


def run(args):
    variants = list(VARIANTS)
    quick = args.quick
    out = {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "quick": quick,
    }
    loops = {v: LoopThread(v) for v in variants}
    try:
        say = (lambda *a: None) if args.no_progress else (lambda m: print(m, file=sys.stderr))
        say("latency ...")
        out["latency"] = case_latency(loops, 4 if quick else 10, 50 if quick else 300)
        say("burst ...")
        out["burst"] = case_burst(loops, 3 if quick else 9, 2000 if quick else 20000)
        say("inloop ...")
        out["inloop"] = case_inloop(loops, 5 if quick else 15, 5000 if quick else 50000)
    finally:
        for lt in loops.values():
            lt.close()
    say("executor ...")
    out["executor"] = case_executor(variants, 3 if quick else 9, 300 if quick else 3000)
    if not args.no_echo:
        say("echo ...")
        out["echo"] = case_echo(
            variants, 1 if quick else 4, 0.5 if quick else 2.0, args.clients, args.msg_size
        )
    return out


def print_table(out):
    rows = [
        ("latency", "median_us", "µs", "call_soon_threadsafe -> callback, idle loop (median)"),
        ("latency", "p99_us", "µs", "  the same, p99"),
        ("burst", "median_per_s", "/s", "4 threads x call_soon_threadsafe, callbacks per second"),
        ("inloop", "median_ns", "ns", "call_soon_threadsafe from the loop thread, per call"),
        ("executor", "median_us", "µs", "run_in_executor(None, int) round trip"),
        ("echo", "median_per_s", "/s", "asyncio-streams echo, round trips per second"),
    ]
    m = out["machine"]
    print(f"Python {m['python']} on {m['platform']}, {m['cpus']} CPUs")
    head = f"{'case':<58}{'wakeup':>12}{'selfpipe':>12}{'stdlib':>12}{'wakeup/selfpipe':>17}"
    print(head)
    print("-" * len(head))
    for case, key, unit, label in rows:
        if case not in out:
            continue
        vals = [out[case][v][key] for v in VARIANTS]
        ratio = vals[0] / vals[1]
        cells = "".join(f"{x:>10.3g}{unit:<2}" for x in vals)
        print(f"{label:<58}{cells}{ratio:>17.2f}")
    print("(lower is better for µs/ns rows, higher for /s rows)")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m rselectors._asyncio_bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a short run (~15 s)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.add_argument("--no-echo", action="store_true", help="skip the echo case")
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
