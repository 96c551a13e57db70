"""The driver: ``python benches/compare.py [options]`` (``--help`` lists them).

Runs the plan's cases (``cases.plan``), each in its own worker process (``workers``), prints
the table (``report``) and optionally writes JSON and a chart (``plot``). The implementations
are imported by module name in the workers only: ``--impl-a`` (default ``selectors``, the
stdlib), ``--impl-b`` (default ``rselectors``) and, with ``--floor``, the C floor
(``benches/floor``, built for this Python by ``floor.build``) as a third column in the micro
cases. Any two modules with the ``selectors`` API can be compared: the stdlib against itself
gives ratios close to 1.0, which is how the harness checks its own noise.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from . import floor
from .cases import case_id, plan, select_cases
from .common import BACKENDS, FLOOR, backend_available, import_impl
from .echo import run_echo
from .report import Progress, machine_info, print_table
from .timing import CLOCKS
from .workers import run_worker


def run_all(specs, args, progress):
    names = args.impls
    results = []
    for spec in specs:
        progress.step(case_id(spec))
        kind = spec["kind"]
        if kind == "micro":
            target = int(args.target_ms * 1e6)
            payload = json.dumps([spec, names, args.repeats, target, args.clock])
            res = run_worker(["micro", payload])
            if "error" in res and not res["error"].startswith("skipped"):
                time.sleep(1.0)  # a transient failure (e.g. a shared kernel limit): retry once
                res = run_worker(["micro", payload])
        elif kind == "memory":
            vals, extra = [], {}
            for name in names[:2]:
                r = run_worker(["memory", name, spec["backend"], spec["params"]["registrations"]])
                if "error" in r:
                    extra = r
                    break
                vals.append(r["bytes_per_registration"])
                extra = r
            res = extra if "error" in extra else dict(extra, values=vals)
        elif kind == "timeout":
            res = run_worker(["timeout", json.dumps([spec, names[:2], args.timeout_samples])])
        elif kind == "echo":
            res = run_e2e_case(spec, names[:2], args)
        else:  # pragma: no cover
            res = {"error": "unknown kind"}
        results.append((spec, res))
    return results


def run_e2e_case(spec, names, args):
    kind = spec["case"][len("echo_") :].replace("_", "-")
    try:
        res = run_echo(
            names,
            kind,
            args.clients,
            args.e2e_rounds,
            args.duration,
            args.msg_size,
            args.e2e_selector,
            args.pin,
            args.load_client,
        )
    except Exception as e:  # noqa: BLE001 - report it, go on with the other cases
        return {"error": f"{type(e).__name__}: {e}"}
    res.update(
        clients=args.clients,
        slot_s=args.duration,
        msg_size=args.msg_size,
        load_client="native" if args.load_client else "python",
    )
    return res


def build_parser(prog=None):
    p = argparse.ArgumentParser(
        prog=prog,
        description="Benchmark selectors implementations side by side (interleaved): "
        "A (the baseline), B (under test) and, with --floor, the C floor.",
    )
    p.add_argument("--impl-a", default="selectors", help="baseline module (default: selectors)")
    p.add_argument("--impl-b", default="rselectors", help="module under test (default: rselectors)")
    p.add_argument(
        "--floor",
        action="store_true",
        help="also measure the C floor (benches/floor, compiled now with gcc; its epoll, poll "
        "and select classes) in every micro case, as column C: B/C = how far B is from it",
    )
    p.add_argument("--quick", action="store_true", help="CI-sized run (< 60 s)")
    p.add_argument(
        "--cases",
        default="",
        help="comma-separated case filters: names (select_ready), substrings of case "
        "ids (select_idle/epoll) or globs (*/poll/*); kinds: memory, timeout, echo",
    )
    p.add_argument(
        "--backends", default="", help="comma-separated subset of: " + ", ".join(BACKENDS)
    )
    p.add_argument("--json", metavar="OUT", help="write all results (raw samples too) as JSON")
    p.add_argument(
        "--png",
        metavar="OUT",
        help="chart of B's ratio to A per micro case, the floor's ratio as the limit (needs "
        "matplotlib)",
    )
    p.add_argument("--repeats", type=int, help="interleaved repeats per side and micro case")
    p.add_argument("--target-ms", type=float, help="duration of one timed repeat")
    p.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="micro cases: wall = time.perf_counter_ns (default); cpu = "
        "time.thread_time_ns, less sensitive to other processes on a shared machine",
    )
    p.add_argument("--timeout-samples", type=int, help="select(t) samples per side and t")
    p.add_argument("--duration", type=float, help="echo: seconds per load slot")
    p.add_argument(
        "--e2e-rounds",
        type=int,
        help="echo: rounds of one slot per side (A B, B A, ...): each side is measured this "
        "many times",
    )
    p.add_argument("--clients", type=int, default=10, help="load client processes (default 10)")
    p.add_argument("--msg-size", type=int, default=32, help="bytes per echo message")
    p.add_argument(
        "--e2e-selector",
        default="DefaultSelector",
        help="selector class the echo servers use (default DefaultSelector)",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="echo: pin the server to the first CPU and clients to the others",
    )
    p.add_argument(
        "--load-client",
        metavar="PATH",
        help="echo: an executable load client to use instead of the Python one, e.g. "
        "benches/loadgen/echo_client.c compiled (costs the machine less CPU than the server)",
    )
    p.add_argument("--list", action="store_true", help="list the case ids and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return p


def main(argv=None, prog=None):
    """Run the benchmark; return the exit status. Stops quietly when stdout is closed early
    (``--list | head``), as command-line tools do."""
    try:
        status = _run(build_parser(prog).parse_args(argv))
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # Point stdout at /dev/null: the interpreter's last flush must not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


def _add_floor():
    """Build the C floor into a temporary directory that this process and its workers import
    from; return the directory (the caller removes it), or None after saying why not."""
    try:
        out = floor.build()
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write(f"error: --floor: cannot build benches/floor/cfloor.c ({e})\n")
        return None
    sys.path.insert(0, out)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [out, os.environ.get("PYTHONPATH")]))
    return out


def _run(args):
    defaults = {
        # quick / full
        "repeats": (31, 201),
        "target_ms": (0.5, 0.5),
        "timeout_samples": (30, 300),
        "duration": (0.5, 2.0),
        "e2e_rounds": (2, 6),
    }
    for k, (q, f) in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, q if args.quick else f)

    backends = [b.strip() for b in args.backends.split(",") if b.strip()] or list(BACKENDS)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        sys.stderr.write("error: unknown backend(s): {}\n".format(", ".join(unknown)))
        return 2
    backends = [b for b in backends if backend_available(b)]
    patterns = [c.strip() for c in args.cases.split(",") if c.strip()]
    specs = select_cases(plan(backends), patterns)
    if args.list:
        for s in specs:
            print(case_id(s))
        return 0
    if not specs:
        sys.stderr.write(f"error: no case matches --cases {args.cases!r}\n")
        return 2

    for name in (args.impl_a, args.impl_b):
        try:
            import_impl(name)
        except ImportError as e:
            sys.stderr.write(
                f"error: cannot import {name!r} ({e}).\n"
                "  Build it first (cd to the checkout; maturin develop --release), or compare "
                "the stdlib with itself: --impl-b selectors\n"
            )
            return 2
    if args.load_client:
        args.load_client = os.path.abspath(args.load_client)
        if not os.access(args.load_client, os.X_OK):
            sys.stderr.write(f"error: --load-client {args.load_client!r} is not executable\n")
            return 2
    if args.png:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            sys.stderr.write(
                "note: --png needs matplotlib, which is not installed "
                "(python -m pip install matplotlib); the chart will be skipped\n"
            )
            args.png = None
    floor_dir = _add_floor() if args.floor else None
    if args.floor and floor_dir is None:
        return 2
    try:
        args.impls = [args.impl_a, args.impl_b] + [FLOOR] * args.floor
        return _measure(specs, args)
    finally:
        if floor_dir:
            shutil.rmtree(floor_dir, ignore_errors=True)


def _measure(specs, args):
    names = args.impls
    info = machine_info(names)
    busy = info.get("loadavg", [0])[0]
    if busy > (info.get("cores_usable") or info["cores"] or 1):
        sys.stderr.write(
            f"warning: the machine is busy (load average {busy} on {info['cores']} cores): "
            "wall-clock medians will be inflated and noisy; --clock cpu measures CPU time "
            "instead\n"
        )
    t0 = time.monotonic()
    progress = Progress(len(specs), not args.no_progress)
    try:
        results = run_all(specs, args, progress)
    finally:
        progress.done()
    elapsed = time.monotonic() - t0
    print_table(results, names, info)
    print("\nTotal time {:.1f} s ({}).".format(elapsed, "quick" if args.quick else "full"))
    if args.json:
        doc = {
            "machine": info,
            "impls": names,
            "floor": FLOOR if args.floor else None,
            "argv": sys.argv,
            "options": vars(args),
            "elapsed_s": elapsed,
            "results": [{"id": case_id(s), "spec": s, "result": r} for s, r in results],
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"JSON written to {args.json}")
    if args.png:
        from .plot import write_png

        try:
            write_png(results, names, args.png)
            print(f"Chart written to {args.png}")
        except Exception as e:  # noqa: BLE001 - the table is already printed
            sys.stderr.write(f"chart skipped: {e}\n")
    return 0
