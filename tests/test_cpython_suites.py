"""CPython's own test.test_selectors and test.test_asyncio, run in a subprocess (same
interpreter) with the module under test installed as ``sys.modules["selectors"]`` before
asyncio or the tests are imported (see _cpython_runner.py).

Measured on the 2-core dev machine with the stdlib as target (Python 3.11): test_selectors
~16 s; the whole test_asyncio 73 s on an idle machine (2370 tests), 180 s at load ~1.5 and
up to 850 s while other builds ran (load ~9). It is under 5 minutes on an idle machine (as
CI is), so the full suites run by default. Set RSELECTORS_CPYTHON_SUBSET=1 to run only the
selector-heavy part of test_asyncio (ASYNCIO_SUBSET, ~25 s).
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
#: not have. Excluded only when the target is not the stdlib.
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


def _run(modules, timeout, capsys):
    if not _have("test.test_selectors"):
        pytest.skip("CPython's test package is not installed for this interpreter")
    cmd = [sys.executable, RUNNER, TARGET_NAME, *modules]
    if not IS_STDLIB:
        for test_id in sorted(EXCLUDED):
            cmd += ["--exclude", test_id]
    env = dict(os.environ)
    env.setdefault("PYTHONFAULTHANDLER", "1")
    proc = subprocess.run(
        cmd,
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        env=env,
        cwd=os.path.dirname(RUNNER),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"runner crashed (rc={proc.returncode}):\n{proc.stderr[-8000:]}"
    summary = json.loads(lines[-1][len("RESULT "):])
    with capsys.disabled():
        sys.stdout.write(
            f"\n[cpython suites] target={summary['target']} {' '.join(modules)}: "
            f"ran={summary['ran']} failures={summary['failures']} "
            f"errors={summary['errors']} skipped={summary['skipped']} "
            f"excluded={len(summary['excluded'])} time={summary['seconds']}s\n"
        )
    assert summary["failures"] == 0 and summary["errors"] == 0, (
        f"{summary['failed_ids']}\n{proc.stderr[-12000:]}"
    )
    assert summary["ran"] > 0
    assert proc.returncode == 0, proc.stderr[-8000:]
    return summary


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
