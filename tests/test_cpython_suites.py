"""CPython's own test.test_selectors and test.test_asyncio, for the interpreter running pytest,
run twice in the same test: once on the stdlib ``selectors`` and once with rselectors
installed as ``sys.modules["selectors"]`` before asyncio or the tests are imported (see
_cpython_runner.py). The rselectors run must have no failure or error, run exactly the tests
the stdlib run ran (less the named exclusions below), and skip no test the stdlib run did not
skip, except the named justified ones. Both sets of counts are printed.

This works on any CPython whose test package is installed (pyenv builds have it; Debian ships
it as ``libpython3.X-testsuite``); CI runs it on 3.11 and, in a chroot, on 3.14 and 3.15
(.ci/run, scripts/test-python). The two runs of a suite go side by side, one per core: the
whole test_asyncio takes minutes per run, which is why (see the ``seconds`` each run prints).
Set RSELECTORS_CPYTHON_SUBSET=1 to run only the selector-heavy part of test_asyncio
(ASYNCIO_SUBSET).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from _support import IS_STDLIB, TARGET_NAME

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


def _have(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _start(target, modules, exclude):
    cmd = [sys.executable, RUNNER, target, *modules]
    for test_id in sorted(exclude):
        cmd += ["--exclude", test_id]
    env = dict(os.environ)
    env.setdefault("PYTHONFAULTHANDLER", "1")
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=os.path.dirname(RUNNER),
    )


def _finish(proc, timeout):
    """The runner's RESULT summary, with its stderr tail and exit code added."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"runner timed out after {timeout}s:\n{err[-8000:]}")
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"runner crashed (rc={proc.returncode}):\n{err[-8000:]}"
    summary = json.loads(lines[-1][len("RESULT "):])
    summary["stderr"] = err
    summary["returncode"] = proc.returncode
    return summary


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
        ours = _finish(_start(TARGET_NAME, modules, ()), timeout)
        with capsys.disabled():
            sys.stdout.write(f"{header}  {_counts(ours)}\n")
        _check_ours(ours)
        return ours
    # The exclusions that belong to these modules.
    excluded = [t for t in EXCLUDED if t.startswith(tuple(f"{m}." for m in modules))]
    # One subprocess per target, started together: each runs on its own core.
    std_proc = _start("selectors", modules, ())
    ours_proc = _start(TARGET_NAME, modules, excluded)
    ours = _finish(ours_proc, timeout)
    std = _finish(std_proc, timeout)
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


@pytest.mark.timeout(600)
def test_cpython_test_selectors(capsys):
    summary = _run(["test.test_selectors"], 540, capsys)
    assert summary["ran"] >= 100


@pytest.mark.timeout(1800)
def test_cpython_test_asyncio(capsys):
    if os.environ.get("RSELECTORS_CPYTHON_SUBSET"):
        modules = [m for m in ASYNCIO_SUBSET if _have(m)]
    else:
        modules = ["test.test_asyncio"]
    summary = _run(modules, 1700, capsys)
    assert summary["ran"] >= 500
