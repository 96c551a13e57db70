"""How late sub-millisecond waits end, side by side: the stdlib's selectors and rselectors
from Python (interleaved, one process), and rselectors' and the `polling` crate's from Rust
(`cargo bench --bench timer_overshoot`, interleaved). Nothing is ready; each wait's lateness
is its duration minus its timeout.

    python benches/timer_overshoot.py [--samples N] [--out FILE]

Build rselectors first (`maturin develop --release`); needs cargo for the Rust side.
"""

import argparse
import json
import os
import platform
import selectors
import statistics
import subprocess
import sys
import time

import rselectors

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUTS_US = (100, 200, 500)
CLASSES = ("EpollSelector", "PollSelector", "SelectSelector")


def python_side(samples):
    """(impl, timeout_us) -> list of lateness in µs, the stdlib and rselectors interleaved."""
    rows = {}
    for name in CLASSES:
        sides = [
            ("stdlib " + name, getattr(selectors, name)()),
            ("rselectors " + name, getattr(rselectors, name)()),
        ]
        for t_us in TIMEOUTS_US:
            t = t_us / 1e6
            late = {label: [] for label, _ in sides}
            for _, sel in sides:
                sel.select(t)  # warm-up
            for _ in range(samples):
                for label, sel in sides:
                    t0 = time.perf_counter()
                    sel.select(t)
                    late[label].append((time.perf_counter() - t0 - t) * 1e6)
            for label, values in late.items():
                rows[(label, t_us)] = values
        for _, sel in sides:
            sel.close()
    return rows


def rust_side(samples):
    out = subprocess.run(
        [
            "cargo",
            "bench",
            "--quiet",
            "--bench",
            "timer_overshoot",
            "--",
            "--samples",
            str(samples),
        ],
        cwd=os.path.dirname(HERE),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def summary(values):
    values = sorted(values)
    return statistics.median(values), values[round((len(values) - 1) * 0.99)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--out", help="also write the table to this file")
    args = p.parse_args(argv)
    machine = (
        f"{platform.platform()}, {platform.python_implementation()} "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start"
    )
    lines = [
        f"# timer overshoot, {time.strftime('%Y-%m-%d')}: {machine}",
        f"# command: python benches/timer_overshoot.py --samples {args.samples}",
        f"# {args.samples} idle waits per implementation and timeout, interleaved",
        "# lateness = duration - timeout, µs",
        "",
        f"{'implementation':<34} {'timeout':>8} {'median':>8} {'p99':>8}",
    ]
    for (label, t_us), values in python_side(args.samples).items():
        med, p99 = summary(values)
        lines.append(f"{'Python ' + label:<34} {t_us:>6}µs {med:>8.1f} {p99:>8.1f}")
    for row in rust_side(args.samples):
        lines.append(
            f"{'Rust ' + row['impl']:<34} {row['timeout_us']:>6}µs "
            f"{row['median_us']:>8.1f} {row['p99_us']:>8.1f}"
        )
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
