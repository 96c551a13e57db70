"""The Windows stage's verdict on its two pytest runs under Wine (scripts/test-windows): the
suite on rselectors and on the stdlib (RSELECTORS_UNDER_TEST=selectors), from their JUnit XML
and logs in RESULTS.

Prints each run's counts side by side, why tests were skipped (grouped), the Wine gaps
(tests/_support.py ``wine_gap``: strict xfails under Wine) and CPython's test_selectors counts
(printed by tests/test_cpython_suites.py). Fails if the rselectors run has a failure or an
error, or if a Wine gap it claims is not shown by the stdlib failing the same test under Wine
(an xfail there too); a gap that Wine no longer has fails both runs as a strict XPASS.

    python3 scripts/windows/report.py RESULTS [STDLIB-SELECTION]
"""

import collections
import os
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """``{test id: (outcome, message)}``, outcome one of passed, failed, error, skipped,
    xfailed."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        result, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                result, message = ("failed" if child.tag == "failure" else "error"), child.get(
                    "message", "")
                break
            if child.tag == "skipped":
                kind = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
                result, message = kind, child.get("message", "")
        out[test_id] = (result, message)
    return out


def counts(results):
    c = collections.Counter(r for r, _ in results.values())
    return {k: c.get(k, 0) for k in ("passed", "failed", "error", "skipped", "xfailed")}


def main():
    results_dir = sys.argv[1]
    selection = sys.argv[2] if len(sys.argv) > 2 else "all"
    ours = outcomes(os.path.join(results_dir, "rselectors.xml"))
    std = outcomes(os.path.join(results_dir, "stdlib.xml"))
    ok = True

    print("pytest under Wine        tests  " + "  ".join(f"{k:>7}" for k in counts(ours)))
    for name, res in (("rselectors", ours), (f"stdlib ({selection})", std)):
        c = counts(res)
        print(f"  {name:<22} {len(res):>5}  " + "  ".join(f"{v:>7}" for v in c.values()))

    print("\nskipped on rselectors, by reason:")
    reasons = collections.Counter(m for r, m in ours.values() if r == "skipped")
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>4}  {reason}")

    print("\nWine gaps (strict xfail under Wine; the stdlib's result beside):")
    for test_id, (result, message) in sorted(ours.items()):
        if result != "xfailed":
            continue
        theirs = std.get(test_id, ("not run", ""))[0]
        proven = theirs == "xfailed"
        ok &= proven
        print(f"  {'ok  ' if proven else 'FAIL'} {test_id}: {message} [stdlib: {theirs}]")

    bad = {t: v for t, v in ours.items() if v[0] in ("failed", "error")}
    if bad:
        ok = False
        print("\nfailed on rselectors:")
        for test_id, (result, message) in sorted(bad.items()):
            print(f"  {result}: {test_id}: {message[:300]}")
    std_bad = {t: v for t, v in std.items() if v[0] in ("failed", "error")}
    if std_bad:
        print("\nfailed on the stdlib under Wine (for reference; not a verdict on rselectors):")
        for test_id, (result, message) in sorted(std_bad.items()):
            print(f"  {result}: {test_id}: {message[:300]}")

    print("\nCPython's test_selectors under Wine (tests/test_cpython_suites.py):")
    with open(os.path.join(results_dir, "rselectors.log"), errors="replace") as f:
        lines = [ln.rstrip() for ln in f if ln.strip().startswith("python=")]
    for line in lines:
        print(f"  {line.strip()}")
    if not lines:
        ok = False
        print("  FAIL: not run")
    print(f"\nverdict: {'pass' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
