#!/usr/bin/env python3
"""The performance gate: rselectors' wins over the stdlib may not be lost.

Runs the engine's quick mode (``compare.py --quick --clock cpu``: the stdlib and rselectors
interleaved, CPU time of the benchmark thread, kernel time included) on every case named in
``benches/ceilings.json``, and fails if a case's B/A (rselectors / stdlib, ratio of the
medians) is above its ceiling there. A case over its ceiling is measured once more, and fails
the gate only if it is over again (a real regression is over every time; a noisy repeat
rarely twice). A case that is missing or fails to run also fails the gate.

    python benches/gate.py                    # CI (.ci/run): exit 1 on a regression
    python benches/gate.py --json run.json    # also keep the first run's results
    python benches/gate.py --runs 5           # calibrate: print each case's worst B/A of 5

Each ceiling is the worst B/A of the calibration runs written beside it in ceilings.json,
times its headroom factor, for a noisy 2-core VM whose runs vary by a third.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CEILINGS = os.path.join(HERE, "ceilings.json")
COMPARE = os.path.join(HERE, "compare.py")


def measure(case_ids, keep=None):
    """One quick interleaved run of ``case_ids``; returns {case id: B/A or an error string}."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        proc = subprocess.run(
            [sys.executable, COMPARE, "--quick", "--clock", "cpu", "--no-progress",
             "--cases", ",".join(case_ids), "--json", path],
            capture_output=True, text=True, check=False,
        )
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr)
            return {cid: f"compare.py exited {proc.returncode}" for cid in case_ids}
        with open(path) as f:
            doc = json.load(f)
        if keep:
            with open(keep, "w") as f:
                json.dump(doc, f, indent=1)
    finally:
        os.unlink(path)
    out = {}
    for row in doc["results"]:
        res = row["result"]
        out[row["id"]] = res["error"] if "error" in res else res["ratio"]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="gate.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", metavar="OUT", help="write the first run's results as JSON")
    p.add_argument("--runs", type=int, default=0, metavar="N",
                   help="calibrate: N runs, print each case's worst B/A, gate nothing")
    args = p.parse_args(argv)
    with open(CEILINGS) as f:
        ceilings = json.load(f)["ceilings"]
    case_ids = sorted(ceilings)

    if args.runs:
        runs = [measure(case_ids) for _ in range(args.runs)]
        print(json.dumps({cid: max(r[cid] for r in runs if isinstance(r.get(cid), float))
                          for cid in case_ids}, indent=1))
        return 0

    first = measure(case_ids, args.json)
    over = [cid for cid in case_ids if not _within(first.get(cid), ceilings[cid])]
    again = measure(over) if over else {}
    print(f"\ngate: B/A (rselectors / stdlib) against the ceilings of {os.path.relpath(CEILINGS)}")
    failed = []
    for cid in case_ids:
        got = [first.get(cid, "missing")] + ([again.get(cid, "missing")] if cid in over else [])
        ok = _within(got[-1], ceilings[cid])
        failed += [] if ok else [cid]
        shown = " then ".join(f"{g:.2f}" if isinstance(g, float) else str(g) for g in got)
        print(f"  {'ok  ' if ok else 'FAIL'}  {cid:36}  {shown:>14}  ceiling {ceilings[cid]:.2f}")
    if failed:
        print(f"gate: {len(failed)} case(s) over their ceiling: {', '.join(failed)}")
        return 1
    print(f"gate: all {len(case_ids)} cases within their ceilings")
    return 0


def _within(ratio, ceiling):
    return isinstance(ratio, float) and ratio <= ceiling


if __name__ == "__main__":
    sys.exit(main())
