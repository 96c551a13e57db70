"""Run a test module (unittest) with the module under test in place of ``selectors``: CPython's
own (tests/test_cpython_suites.py) or a third-party package's (tests/test_third_party.py).

Usage: python _cpython_runner.py TARGET TEST_MODULE [TEST_MODULE...] [--exclude ID]...

TARGET is the module to put in ``sys.modules["selectors"]`` before anything imports asyncio
or the tests (``selectors`` = the stdlib itself). The last line printed is
``RESULT {json}`` with the counts and the id of every test that ran, was skipped (with its
reason) or failed, used to compare a run on rselectors with one on the stdlib.
"""

import argparse
import importlib
import json
import signal
import sys
import time
import unittest


def _install(target):
    if target == "selectors":
        import selectors

        return selectors
    mod = importlib.import_module(target)
    sys.modules["selectors"] = mod
    return mod


def _iter_tests(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _iter_tests(test)
        else:
            yield test


class _ModuleSkipped(unittest.TestCase):
    """Stands for a test module that raised SkipTest when imported: one skipped test named
    after the module."""

    def __init__(self, module, reason):
        super().__init__()
        self._module, self._reason = module, reason

    def id(self):
        return self._module

    def runTest(self):
        raise unittest.SkipTest(self._reason)


class _RecordingResult(unittest.TextTestResult):
    """A TextTestResult that also remembers the id of every test it ran."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ran_ids = []

    def startTest(self, test):
        self.ran_ids.append(test.id())
        super().startTest(test)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("modules", nargs="+")
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--verbosity", type=int, default=1)
    args = parser.parse_args()
    # A run started in the background inherits SIGINT ignored; CPython's tests that interrupt
    # themselves (test_runners' _thread.interrupt_main) expect Python's own handler, as a
    # terminal gives it (3.14's test_asyncio_run_without_uncancel runs out of memory without).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    mod = _install(args.target)
    # Everything below imports selectors (asyncio, subprocess, the tests) and must see `mod`.
    import asyncio.selector_events

    assert asyncio.selector_events.selectors is mod, "asyncio imported the wrong selectors"

    loader = unittest.TestLoader()
    excluded = set(args.exclude)
    suite = unittest.TestSuite()
    seen_excluded = set()
    for name in args.modules:
        try:
            loaded = loader.loadTestsFromName(name)
        except unittest.SkipTest as e:  # a module that skips itself on import (Windows only)
            loaded = [_ModuleSkipped(name, str(e))]
        for test in _iter_tests(loaded):
            if test.id() in excluded:
                seen_excluded.add(test.id())
                continue
            suite.addTest(test)
    check_mod = sys.modules["selectors"]
    assert check_mod is mod, "a test module replaced sys.modules['selectors']"

    t0 = time.monotonic()
    runner = unittest.TextTestRunner(
        stream=sys.stderr, verbosity=args.verbosity, resultclass=_RecordingResult
    )
    result = runner.run(suite)
    elapsed = time.monotonic() - t0

    summary = {
        "target": args.target,
        "modules": args.modules,
        "python": sys.version.split()[0],
        "ran": result.testsRun,
        "failures": len(result.failures),
        "errors": len(result.errors),
        "skipped": len(result.skipped),
        "expected_failures": len(result.expectedFailures),
        "unexpected_successes": len(result.unexpectedSuccesses),
        "excluded": sorted(seen_excluded),
        "excluded_not_found": sorted(excluded - seen_excluded),
        "failed_ids": [t.id() for t, _ in result.failures + result.errors],
        "ran_ids": result.ran_ids,
        "skipped_ids": {t.id(): reason for t, reason in result.skipped},
        "seconds": round(elapsed, 1),
    }
    sys.stdout.write("RESULT " + json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
