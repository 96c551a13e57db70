"""CPython's own test.test_selectors and test.test_asyncio, for the interpreter running pytest,
run twice in the same test: once on the stdlib ``selectors`` and once with rselectors
installed as ``sys.modules["selectors"]`` before asyncio or the tests are imported (see
_cpython_runner.py). The rselectors run must have no failure or error, run exactly the tests
the stdlib run ran (less the named exclusions below), and skip no test the stdlib run did not
skip, except the named justified ones. Both sets of counts are printed.

This works on any CPython whose test package is installed (pyenv builds have it; Debian ships
it as ``libpython3.X-testsuite``); CI runs it on 3.11 and, in a chroot, on 3.14 and 3.15
(.ci/run, scripts/test-python). As CPython's own test runner does, each test module (each
submodule of the test_asyncio package) runs in a fresh process, as many at once as there are
cores, the two targets' runs interleaved: one process for a whole package accumulates state
from module to module and gets slower with every one. Set RSELECTORS_CPYTHON_SUBSET=1 to run
only the selector-heavy part of test_asyncio (ASYNCIO_SUBSET), RSELECTORS_CPYTHON_MODULES
to the test_asyncio modules to run (space-separated names; CI's run under emulation,
scripts/test-aarch64), RSELECTORS_CPYTHON_SUITES to the suites to run (default
"test_selectors,test_asyncio"; the others skip, saying so). The runners' time limits are
scaled by RSELECTORS_TEST_SLOWDOWN.
"""

import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from _support import IS_STDLIB, SLOWDOWN, TARGET_NAME

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_cpython_runner.py")

#: Tests that patch private attributes of the stdlib classes, which our native classes do
#: not have. Excluded from the rselectors run only; each must exist and pass on the stdlib.
EXCLUDED = {
    # patches selectors.<Class>._selector_cls (the stdlib's select.epoll/select.poll factory)
    # to make the kernel modify fail; tests/test_modify_semantics.py covers the same
    # behaviour (bpo-30014) with a real kernel failure instead.
    "test.test_selectors.EpollSelectorTestCase.test_modify_unregister":
        "patches EpollSelector._selector_cls",
    "test.test_selectors.PollSelectorTestCase.test_modify_unregister":
        "patches PollSelector._selector_cls",
    "test.test_selectors.DefaultSelectorTestCase.test_modify_unregister":
        "patches <DefaultSelector>._selector_cls",
    "test.test_selectors.DevpollSelectorTestCase.test_modify_unregister":
        "patches DevpollSelector._selector_cls",
}

#: Test-id prefixes that may be skipped on rselectors although the stdlib run ran them: the
#: selector classes rselectors does not define where the stdlib does. Neither is the case on
#: Linux, where both skip these classes (no select.kqueue / select.devpoll).
JUSTIFIED_SKIPS = {
    "test.test_selectors.KqueueSelectorTestCase.": "KqueueSelector absent",
    "test.test_selectors.DevpollSelectorTestCase.": "DevpollSelector absent",
}

ASYNCIO_SUBSET = [
    "test.test_asyncio.test_selector_events",
    "test.test_asyncio.test_events",
    "test.test_asyncio.test_base_events",
    "test.test_asyncio.test_sock_lowlevel",
    "test.test_asyncio.test_streams",
    "test.test_asyncio.test_server",
    "test.test_asyncio.test_subprocess",
    "test.test_asyncio.test_sendfile",
]


def _cores():
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _selected(suite):
    """Skips unless RSELECTORS_CPYTHON_SUITES (default: every suite) names ``suite``."""
    chosen = os.environ.get("RSELECTORS_CPYTHON_SUITES", "test_selectors,test_asyncio")
    if suite not in chosen.split(","):
        pytest.skip(f"RSELECTORS_CPYTHON_SUITES={chosen} leaves CPython's {suite} out")


def _have(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _test_modules(name):
    """``name`` if it is a test module; for a package, its test submodules (those its
    ``load_tests`` loads: the ``test*`` modules beside its ``__init__``)."""
    spec = importlib.util.find_spec(name)
    if not spec.submodule_search_locations:
        return [name]
    found = pkgutil.iter_modules(spec.submodule_search_locations)
    return sorted(f"{name}.{m.name}" for m in found if m.name.startswith("test"))


def _run_module(target, module, exclude, timeout):
    """One runner process for one test module: its RESULT summary, with its stderr and exit
    code added."""
    cmd = [sys.executable, RUNNER, target, module]
    for test_id in sorted(exclude):
        cmd += ["--exclude", test_id]
    env = dict(os.environ)
    env.setdefault("PYTHONFAULTHANDLER", "1")
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=env,
            cwd=os.path.dirname(RUNNER),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        pytest.fail(f"{module} on {target}: runner timed out after {timeout}s:\n{err[-8000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, (
        f"{module} on {target}: runner crashed (rc={proc.returncode}):\n{proc.stderr[-8000:]}"
    )
    summary = json.loads(lines[-1][len("RESULT "):])
    summary["stderr"] = proc.stderr
    summary["returncode"] = proc.returncode
    return summary


_SUMMED = ("ran", "failures", "errors", "skipped", "expected_failures", "unexpected_successes")
_JOINED = ("excluded", "failed_ids", "ran_ids")


def _merge(target, parts, exclude, seconds):
    """One target's summary from its modules' summaries. ``seconds``: the run's wall time."""
    merged = {k: 0 for k in _SUMMED}
    merged.update({k: [] for k in _JOINED})
    merged.update(target=target, python=parts[0]["python"], seconds=seconds, returncode=0,
                  stderr="", skipped_ids={})
    for part in parts:
        for k in _SUMMED + _JOINED:
            merged[k] += part[k]
        merged["skipped_ids"].update(part["skipped_ids"])
        if part["returncode"]:
            merged["returncode"] = part["returncode"]
            merged["stderr"] += part["stderr"][-8000:]
    # Every module's runner is given every exclusion: one none of them found is a stale one.
    merged["excluded_not_found"] = sorted(set(exclude) - set(merged["excluded"]))
    return merged


def _run_targets(targets, modules, exclude, timeout):
    """Runs every test module of ``modules`` on each target (``exclude`` applies to the ones
    that are not the stdlib), each module in its own process, as many at once as there are
    cores; returns one merged summary per target."""
    excludes = {t: () if t == "selectors" else tuple(exclude) for t in targets}
    jobs = [(t, m) for name in modules for m in _test_modules(name) for t in targets]
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=_cores()) as pool:
        parts = list(pool.map(lambda job: _run_module(*job, excludes[job[0]], timeout), jobs))
    seconds = round(time.monotonic() - start, 1)
    return [
        _merge(t, [p for (target, _), p in zip(jobs, parts) if target == t], excludes[t], seconds)
        for t in targets
    ]


def _counts(summary):
    return (
        f"python={summary['python']} target={summary['target']}: ran={summary['ran']} "
        f"failures={summary['failures']} errors={summary['errors']} "
        f"skipped={summary['skipped']} excluded={len(summary['excluded'])} "
        f"time={summary['seconds']}s"
    )


def _check_ours(ours):
    assert ours["failures"] == 0 and ours["errors"] == 0, (
        f"{ours['failed_ids']}\n{ours['stderr'][-12000:]}"
    )
    assert ours["returncode"] == 0, ours["stderr"][-8000:]


def _run(modules, timeout, capsys):
    """Runs ``modules`` on the stdlib and on the target side by side, checks the target's run
    against the stdlib's, and returns the target's summary."""
    if not _have("test.test_selectors"):
        pytest.skip("CPython's test package is not installed for this interpreter")
    header = f"\n[cpython suites] {' '.join(modules)}\n"
    if IS_STDLIB:
        (ours,) = _run_targets([TARGET_NAME], modules, (), timeout)
        with capsys.disabled():
            sys.stdout.write(f"{header}  {_counts(ours)}\n")
        _check_ours(ours)
        return ours
    # The exclusions that belong to these modules.
    excluded = [t for t in EXCLUDED if t.startswith(tuple(f"{m}." for m in modules))]
    std, ours = _run_targets(["selectors", TARGET_NAME], modules, excluded, timeout)
    with capsys.disabled():
        sys.stdout.write(f"{header}  {_counts(std)}\n  {_counts(ours)}\n")
    _check_ours(ours)

    # The exclusions are real tests of this version that the stdlib passes.
    assert not ours["excluded_not_found"], ours["excluded_not_found"]
    std_failed = set(std["failed_ids"])
    std_skipped = set(std["skipped_ids"])
    for test_id in ours["excluded"]:
        assert test_id in std["ran_ids"] and test_id not in std_failed, test_id
    # The same tests ran.
    expected = set(std["ran_ids"]) - set(ours["excluded"])
    ran = set(ours["ran_ids"])
    assert ran == expected, (
        f"ran only on the stdlib: {sorted(expected - ran)}\n"
        f"ran only on {TARGET_NAME}: {sorted(ran - expected)}"
    )
    # No skip beyond the stdlib's, but the justified ones.
    extra = {
        test_id: reason
        for test_id, reason in ours["skipped_ids"].items()
        if test_id not in std_skipped and not test_id.startswith(tuple(JUSTIFIED_SKIPS))
    }
    assert not extra, f"skipped on {TARGET_NAME} only: {extra}"
    return ours


@pytest.mark.timeout(600 * SLOWDOWN)
def test_cpython_test_selectors(capsys):
    _selected("test_selectors")
    summary = _run(["test.test_selectors"], 540 * SLOWDOWN, capsys)
    assert summary["ran"] >= 100


@pytest.mark.timeout(1800 * SLOWDOWN)
def test_cpython_test_asyncio(capsys):
    _selected("test_asyncio")
    chosen = os.environ.get("RSELECTORS_CPYTHON_MODULES", "").split()
    if chosen:
        modules = chosen
    elif os.environ.get("RSELECTORS_CPYTHON_SUBSET"):
        modules = [m for m in ASYNCIO_SUBSET if _have(m)]
    else:
        modules = ["test.test_asyncio"]
    summary = _run(modules, 1700 * SLOWDOWN, capsys)
    if chosen:  # each chosen module ran tests
        for module in chosen:
            assert any(t.startswith(f"{module}.") for t in summary["ran_ids"]), module
    else:
        assert summary["ran"] >= 500
