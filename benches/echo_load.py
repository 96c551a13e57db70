#!/usr/bin/env python3
"""End-to-end echo benchmark: servers and load clients in separate processes.

Three subcommands (the engine is ``rsbench``, beside this file):

``run`` (default)
    Starts the seed's callback echo server and the asyncio Protocol and streams echo servers on
    both implementations, loads them in turn from ``--clients`` processes (A, B, B, A, ...
    slots) and prints requests/s and server CPU per request. Takes the options of
    ``compare.py`` (``--impl-a``, ``--impl-b``, ``--quick``, ``--duration``, ``--e2e-rounds``,
    ``--clients``, ``--msg-size``, ``--pin``, ``--json``).

``server --impl MODULE [--kind callback|asyncio-protocol|asyncio-streams] [--port 0]``
    Runs one echo server in the foreground on ``MODULE.DefaultSelector()``; prints
    ``PORT <n>`` when it is ready (port 0 = any free port on 127.0.0.1). Stop it with Ctrl-C;
    it also exits by itself after ``--max-seconds`` (3600) or when its parent process dies.

``client --port N [--clients 10] [--duration 5] [--msg-size 32] [--load-client PATH]``
    Loads a running echo server on 127.0.0.1:N and prints the requests per second.

``profile [--impls selectors,rselectors] [--kinds ...] [--rounds 3] [--duration 8] [--pin]``
    Samples each server kind on each implementation while the load clients load
    it, and prints the selector's share of the server's samples with its breakdown
    (``rsbench.profile`` defines it). The server samples itself (no profiler needed).

``--load-client PATH`` (``run``, ``client`` and ``profile``) uses an executable load client instead of the
Python one: ``gcc -O2 -o /tmp/echo_client benches/loadgen/echo_client.c``.
"""

import argparse
import os
import sys

from rsbench.cli import main as run
from rsbench.echo import SERVER_KINDS, load_only, serve
from rsbench.profile import main as profile


def main(argv):
    if argv and argv[0] == "server":
        p = argparse.ArgumentParser(prog="echo_load.py server")
        p.add_argument("--impl", default="selectors")
        p.add_argument("--kind", default="callback", choices=SERVER_KINDS)
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--selector", default="DefaultSelector")
        p.add_argument(
            "--max-seconds", type=float, default=3600.0, help="exit after this long (default 3600)"
        )
        a = p.parse_args(argv[1:])
        try:
            serve(a.impl, a.kind, a.port, a.selector, a.max_seconds)
        except KeyboardInterrupt:
            pass
        return 0
    if argv and argv[0] == "client":
        p = argparse.ArgumentParser(prog="echo_load.py client")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--clients", type=int, default=10)
        p.add_argument("--duration", type=float, default=5.0)
        p.add_argument("--msg-size", type=int, default=32)
        p.add_argument("--load-client", metavar="PATH", help="native client (benches/loadgen)")
        a = p.parse_args(argv[1:])
        exe = os.path.abspath(a.load_client) if a.load_client else None
        rps = load_only(a.port, a.clients, a.duration, a.msg_size, exe)
        print(f"{rps:,.0f} requests/s ({a.clients} clients, {a.duration} s)")
        return 0
    if argv and argv[0] == "profile":
        return profile(argv[1:], prog="echo_load.py profile")
    if argv and argv[0] == "run":
        argv = argv[1:]
    return run(["--cases", "echo", *argv], prog="echo_load.py [run]")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
