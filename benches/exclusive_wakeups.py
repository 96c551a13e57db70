#!/usr/bin/env python3
"""The thundering herd of a pre-fork server, and ``register(..., exclusive=True)``.

N forked workers (2, 4, 8), each blocked in ``select()`` on its own ``EpollSelector`` over
one shared listening socket, and a client opening C connections (``rsbench/prefork.py`` has
the workers' loop). Three variants, side by side in the same run: the stdlib's
``EpollSelector``, rselectors' without the flag, and rselectors' with ``exclusive=True``
(``EPOLLEXCLUSIVE``). Per accepted connection:

* ``woken``: the workers' voluntary context switches, i.e. how many workers the kernel woke
  (epoll sends a woken worker that finds the connection taken back to sleep inside the
  kernel: those wake-ups cost a switch and CPU but never reach user space);
* ``seen``: ``select()`` returns with the listening socket ready; ``empty``: of those, the
  ones whose ``accept()`` found nothing (``EAGAIN``);
* ``cpu``: the workers' CPU time (user + system), µs;
* ``conn/s``: connections answered per second, client side.

Two client modes: ``sequential`` (one connection at a time: every connection finds every
worker waiting, the worst herd) and ``burst`` (``--window`` connections in flight). Runs are
interleaved: each round runs every N and variant once, the variants in an order rotated by
the round; the table shows medians over ``--rounds`` and ratios to the stdlib's median.

    python benches/exclusive_wakeups.py [--rounds 5] [--connections 2000] [--out FILE]

Linux only (epoll). Build rselectors first (``maturin develop --release``).
"""

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rsbench import prefork
from rsbench.common import rotations

VARIANTS = list(prefork.VARIANTS)
COLUMNS = ("woken", "seen", "empty", "cpu", "conn/s")


def measure(variant, workers, connections, window):
    r = prefork.run(variant, workers, connections, window=window)
    if r["answered"] != connections or r["accepted"] != connections:
        got = f"{r['answered']} answered, {r['accepted']} accepted"
        raise RuntimeError(f"{variant} N={workers}: {got} of {connections}")
    n = r["accepted"]
    return {
        "woken": r["switches"] / n,
        "seen": r["wakeups"] / n,
        "empty": r["empty"] / n,
        "cpu": r["cpu"] / n * 1e6,
        "conn/s": n / r["elapsed"],
    }


def header(args):
    import rselectors

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    build = os.path.basename(rselectors._rselectors.__file__)
    machine = (
        f"# CPython {platform.python_version()}, Linux {platform.release()}, "
        f"{os.cpu_count()} CPUs, rselectors {rselectors.__version__} ({build}), "
        f"load average at start {load}"
    )
    sizes = (
        f"# {args.connections:,} connections per run; modes: sequential (one at a time), "
        f"burst ({args.window} in flight); medians of {args.rounds} interleaved rounds; "
        "(x) = ratio to the stdlib's median (woken, cpu, conn/s)"
    )
    legend = (
        "# woken = workers woken by the kernel (voluntary context switches) per connection; "
        "seen = select() returns per connection; empty = of those, accept() found nothing; "
        "cpu = workers' CPU us per connection; conn/s = connections answered per second"
    )
    title = "# benches/exclusive_wakeups.py: the pre-fork herd, stdlib vs rselectors vs exclusive"
    return [
        title,
        f"# command: python benches/exclusive_wakeups.py {' '.join(sys.argv[1:])}".rstrip(),
        machine,
        sizes,
        legend,
    ]


def table(mode, samples):
    lines = [f"## {mode}", ""]
    head = f"{'N':>2}  {'variant':<22}" + "".join(f"{c:>17}" for c in COLUMNS)
    lines.append(head)
    for workers in sorted({w for (w, _) in samples}):
        base = {c: statistics.median(s[c] for s in samples[(workers, "stdlib")]) for c in COLUMNS}
        for variant in VARIANTS:
            row = f"{workers:>2}  {variant:<22}"
            for c in COLUMNS:
                med = statistics.median(s[c] for s in samples[(workers, variant)])
                if c in ("seen", "empty"):
                    row += f"{med:>17.3f}"  # near 1 and 0: a ratio would say nothing
                    continue
                value = f"{med:,.0f}" if c in ("cpu", "conn/s") else f"{med:.2f}"
                row += f"{value + f' ({med / base[c]:.2f})':>17}"
            lines.append(row)
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--connections", type=int, default=2000, help="per run (default 2000)")
    p.add_argument("--workers", default="2,4,8", help="worker counts (default 2,4,8)")
    p.add_argument("--window", type=int, default=32, help="burst mode's connections in flight")
    p.add_argument("--modes", default="sequential,burst")
    p.add_argument("--out", help="also write the report to this file")
    args = p.parse_args(argv)
    if not sys.platform.startswith("linux"):
        sys.exit("exclusive wake-ups are epoll's: Linux only")
    worker_counts = [int(w) for w in args.workers.split(",")]
    modes = {"sequential": 1, "burst": args.window}
    lines = header(args)
    t0 = time.monotonic()
    for mode in args.modes.split(","):
        samples = {}
        for order in rotations(VARIANTS, args.rounds):
            for workers in worker_counts:
                for variant in order:
                    got = measure(variant, workers, args.connections, modes[mode])
                    samples.setdefault((workers, variant), []).append(got)
                    woken = f"woken {got['woken']:.2f}"
                    print(f"{mode} N={workers} {variant}: {woken}", file=sys.stderr)
        lines += [""] + table(mode, samples)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines += ["", f"# {time.monotonic() - t0:.0f} s; load average at end {load}"]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
