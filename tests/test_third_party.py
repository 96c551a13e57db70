"""Third-party suites whose code subclasses the stdlib's ``selectors._BaseSelectorImpl`` (issue
28), run twice side by side: on the stdlib ``selectors``, and with the module under test put in
``sys.modules["selectors"]`` before pytest, asyncio or the suite import anything. The swapped
run must give every test the outcome the stdlib run gave it (passed, failed, skipped, error);
both sets of counts are printed.

- trio-asyncio 0.16.0 (its ``_TrioSelector`` subclasses ``_BaseSelectorImpl``): its own tests,
  ``tests/`` without ``tests/python``. With ``-m soak``, also ``tests/python``: CPython's
  ``test.test_asyncio`` run on trio-asyncio's loop (about 2,500 tests, minutes per run).
  0.16.0 (the latest) subclasses ``asyncio.events.BaseDefaultEventLoopPolicy``, which CPython
  3.14 removed: it cannot be imported there, so the test skips (saying so) from 3.14 on.
- asynctest 0.13.0 (its ``TestSelector`` subclasses ``_BaseSelectorImpl``, writes
  ``_fd_to_key`` and overrides ``_fileobj_lookup``): its ``test`` package, with unittest as
  asynctest runs it (``_cpython_runner.py``). asynctest uses ``asyncio.coroutine``, which
  CPython 3.11 removed: it cannot be imported there even on the stdlib, so the test runs on
  3.9 and 3.10 and skips (saying so) from 3.11 on. On 3.9 and 3.10 a part of its suite fails
  on the stdlib too (it was last released for 3.8): the same tests must fail swapped in.

The suites come from their PyPI sdists, installed with their dependencies into a venv of the
running interpreter under ``target/third-party/`` (kept for re-runs); the module under test is
linked into it. A package that cannot be installed for this Python (no wheel of a dependency
and no compiler for it, e.g. greenlet on a CPython newer than its releases) skips the test
with pip's reason.
"""

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _support import IS_STDLIB, TARGET, TARGET_NAME, needs_venv

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="compares rselectors with the stdlib"),
    needs_venv,
    pytest.mark.timeout(1800),
]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "third-party"
PIP_TIMEOUT = 900

TRIO_ASYNCIO = "trio-asyncio==0.16.0"
ASYNCTEST = "asynctest==0.13.0"
#: trio-asyncio's tests use pytest.RaisesGroup (8.4+); pytest 9 no longer collects its
#: tests/python package (its conftest sets a node attribute pytest 9 removed).
SUITE_REQUIREMENTS = ["pytest>=8.4,<9", "pytest-trio"]

#: Runs pytest with ``argv[1]`` in ``sys.modules["selectors"]`` (``selectors``: the stdlib),
#: before pytest (which imports subprocess, which imports selectors) or anything else.
PYTEST_RUNNER = textwrap.dedent(
    """
    import importlib, sys
    target = sys.argv[1]
    if target != "selectors":
        sys.modules["selectors"] = importlib.import_module(target)
    import selectors
    assert selectors.__name__ == target, selectors
    import pytest
    sys.exit(pytest.main(sys.argv[2:]))
    """
)


def _pip(python, *args):
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )


def _suite_env():
    """A venv of this interpreter holding the suites' requirements, with the module under test
    linked in; returns its python. Made once per interpreter, reused."""
    # one per interpreter installation (a chroot's python3.9 is not the host's)
    where = hashlib.sha256(os.path.realpath(sys.base_prefix).encode()).hexdigest()[:8]
    home = WORK / f"{sys.implementation.cache_tag}-{where}"
    python = home / "Scripts" / "python.exe" if os.name == "nt" else home / "bin" / "python"
    works = python.exists() and subprocess.run(
        [str(python), "-c", "pass"], capture_output=True, check=False).returncode == 0
    if not works:
        import venv  # (here: the Windows embeddable CPython has none; needs_venv)

        venv.EnvBuilder(with_pip=True, clear=True).create(home)
    # The module under test, by a link to its package directory (only that package: not the
    # rest of the site-packages it may sit in).
    link_dir = home / "under-test"
    link_dir.mkdir(exist_ok=True)
    package = Path(TARGET.__file__).parent
    link = link_dir / package.name
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(package, target_is_directory=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    Path(site, "rselectors-under-test.pth").write_text(f"{link_dir}\n")
    return python


def _sdist(python, requirement):
    """The unpacked sdist of ``requirement`` (downloaded once into WORK)."""
    dest = WORK / "sdists"
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_')}-{version}"
    unpacked = dest / stem
    if unpacked.is_dir():
        return unpacked
    got = _pip(python, "download", "--no-deps", "--no-binary", ":all:", "-d", str(dest),
               requirement)
    if got.returncode:
        pytest.fail(f"pip download {requirement} failed:\n{got.stderr[-3000:]}")
    archive = next(dest.glob(f"{stem}.tar.gz"), None) or next(
        dest.glob(f"{name}-{version}.tar.gz"))
    # the "data" filter where this Python has it (3.12+, and late 3.9-3.11 patch releases)
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(archive) as tar:
        tar.extractall(dest, **safe)
    top = dest / archive.name[: -len(".tar.gz")]
    if top != unpacked:
        top.rename(unpacked)
    return unpacked


def _install(python, *requirements):
    """pip install ``requirements`` into the suite venv, or skip with pip's reason."""
    got = _pip(python, "install", "--quiet", *SUITE_REQUIREMENTS, *requirements)
    if got.returncode:
        lines = [ln for ln in got.stderr.splitlines() if ln.strip()]
        pytest.skip(
            f"{' '.join(requirements)} cannot be installed for Python "
            f"{sys.version.split()[0]}: " + " | ".join(lines[-6:])
        )


def _outcomes(junit):
    """{test id: passed|failed|error|skipped} from a JUnit XML report."""
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                break
        result[test_id] = outcome
    return result


#: A pytest suite's test running longer than this has its threads' tracebacks written to
#: stderr (pytest's faulthandler_timeout), which a suite run cut off by its timeout then shows.
STUCK_AFTER = 60


def _suite_process(target, cmd, cwd, timeout, env=None):
    """Runs a suite's process; returns it and its seconds. One that does not end within
    ``timeout`` fails the test with what it wrote to stderr (from a faulthandler dump on)."""
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as stuck:
        err = stuck.stderr or ""
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        if "Timeout (" in err:
            detail = (f"the tracebacks of a test running over {STUCK_AFTER} s, innermost "
                      f"first:\n{err[err.find('Timeout ('):][:6000]}")
        else:
            detail = f"the end of its stderr:\n{err[-6000:]}"
        pytest.fail(f"the suite on {target} did not end in {timeout} s; {detail}")
    return proc, round(time.monotonic() - start, 1)


def _run_pytest(python, target, cwd, args, timeout):
    """pytest ``args`` in ``cwd`` with ``target`` as ``selectors``: the outcome of each test."""
    junit = WORK / f"junit-{os.getpid()}-{target}.xml"
    proc, seconds = _suite_process(
        target,
        [str(python), "-c", PYTEST_RUNNER, target, "-p", "no:cacheprovider", "-q",
         "-o", f"faulthandler_timeout={STUCK_AFTER}", f"--junitxml={junit}", *args],
        cwd,
        timeout,
    )
    if not junit.exists():
        pytest.fail(f"the suite on {target} wrote no report (rc={proc.returncode}):\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    outcomes = _outcomes(junit)
    junit.unlink()
    values = list(outcomes.values())
    counts = f"tests={len(values)} " + " ".join(
        f"{k}={values.count(k)}" for k in ("passed", "failed", "error", "skipped"))
    return {"target": target, "outcomes": outcomes, "seconds": seconds, "counts": counts,
            "tail": proc.stdout[-6000:] + proc.stderr[-3000:]}


def _run_unittest(python, target, cwd, modules, timeout):
    """unittest on ``modules`` (importable from ``cwd``) with ``target`` as ``selectors``,
    through the CPython suites' runner: the outcome of each test (a failed subtest counts as
    a failed test of its own)."""
    proc, seconds = _suite_process(
        target,
        [str(python), str(Path(__file__).with_name("_cpython_runner.py")), target, *modules],
        cwd,
        timeout,
        env={**os.environ, "PYTHONPATH": str(cwd)},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        pytest.fail(f"the suite on {target} crashed (rc={proc.returncode}):\n"
                    f"{proc.stderr[-6000:]}")
    summary = json.loads(lines[-1][len("RESULT "):])
    outcomes = {test_id: "passed" for test_id in summary["ran_ids"]}
    outcomes.update({test_id: "skipped" for test_id in summary["skipped_ids"]})
    outcomes.update({test_id: "failed" for test_id in summary["failed_ids"]})
    counts = " ".join(f"{k}={summary[k]}" for k in ("ran", "failures", "errors", "skipped"))
    return {"target": target, "outcomes": outcomes, "seconds": seconds, "counts": counts,
            "tail": proc.stderr[-6000:]}


def _counts(run):
    return f"{run['target']:>10}: {run['counts']} time={run['seconds']}s"


def _compare(title, run, python, cwd, args, capsys, timeout=300):
    """Runs the suite (``run``: _run_pytest or _run_unittest) on the stdlib, then swapped;
    prints both counts; asserts the same outcome for every test."""
    std = run(python, "selectors", cwd, args, timeout)
    ours = run(python, TARGET_NAME, cwd, args, timeout)
    with capsys.disabled():
        sys.stdout.write(f"\n[third-party] {title}, Python {sys.version.split()[0]}\n"
                         f"  {_counts(std)}\n  {_counts(ours)}\n")
    assert std["outcomes"], f"the stdlib run found no tests:\n{std['tail']}"
    differ = {
        test_id: (std["outcomes"].get(test_id), ours["outcomes"].get(test_id))
        for test_id in std["outcomes"].keys() | ours["outcomes"].keys()
        if std["outcomes"].get(test_id) != ours["outcomes"].get(test_id)
    }
    assert not differ, (
        f"outcomes (stdlib, {TARGET_NAME}) that differ:\n{json.dumps(differ, indent=1)}\n"
        f"{ours['tail']}"
    )
    return std, ours


@pytest.fixture(scope="module")
def suite_python():
    WORK.mkdir(parents=True, exist_ok=True)
    return _suite_env()


def _importable(python, source, module, requirement):
    """Skip, with the error, if ``module`` cannot be imported on the stdlib here."""
    imported = subprocess.run([str(python), "-c", f"import {module}"], cwd=source,
                              capture_output=True, text=True, timeout=120, check=False)
    if imported.returncode:
        pytest.skip(f"{requirement} cannot be imported on Python {sys.version.split()[0]}, on "
                    f"the stdlib either: {imported.stderr.strip().splitlines()[-1]}")


#: Where CPython's test package is missing (bullseye's python3.9), trio-asyncio's conftest warns
#: that it cannot add tests/python, and its own ``filterwarnings = error`` makes that fatal.
#: Left out: ``test_keyboard_interrupt_teardown``, which sends itself SIGINT and now and then
#: never ends, on the stdlib as on rselectors (a CI dry run here: the stdlib's run of it stuck
#: in trio's ``epoll_wait`` for its whole timeout): trio-asyncio's deadlock on a
#: KeyboardInterrupt in an asyncio context, python-trio/trio-asyncio#88, open. A test that
#: does not end on the stdlib cannot be compared.
TRIO_ASYNCIO_ARGS = [
    "-W",
    "ignore:Can't run the Python asyncio tests:RuntimeWarning",
    "--deselect",
    "tests/test_misc.py::test_keyboard_interrupt_teardown",
]


def _trio_asyncio(suite_python):
    source = _sdist(suite_python, TRIO_ASYNCIO)
    _install(suite_python, TRIO_ASYNCIO)
    # 3.14 removed asyncio.events.BaseDefaultEventLoopPolicy, which 0.16.0 subclasses.
    _importable(suite_python, source, "trio_asyncio", TRIO_ASYNCIO)
    return source


def test_trio_asyncio_suite(suite_python, capsys):
    source = _trio_asyncio(suite_python)
    std, _ = _compare("trio-asyncio 0.16.0: tests/ without tests/python", _run_pytest,
                      suite_python, source, [*TRIO_ASYNCIO_ARGS, "tests", "--ignore=tests/python"],
                      capsys)
    assert len(std["outcomes"]) >= 100


@pytest.mark.soak
def test_trio_asyncio_suite_with_cpython_test_asyncio(suite_python, capsys):
    """tests/python too: CPython's test.test_asyncio on trio-asyncio's loop (needs CPython's
    test package installed; trio-asyncio's conftest warns and leaves it out otherwise)."""
    source = _trio_asyncio(suite_python)
    std, _ = _compare("trio-asyncio 0.16.0: tests/ with tests/python", _run_pytest,
                      suite_python, source, [*TRIO_ASYNCIO_ARGS, "tests"], capsys, timeout=1700)
    assert len(std["outcomes"]) >= 100


def test_asynctest_suite(suite_python, capsys):
    source = _sdist(suite_python, ASYNCTEST)
    _install(suite_python, ASYNCTEST)
    # 0.13.0 uses asyncio.coroutine, which CPython 3.11 removed.
    _importable(suite_python, source, "asynctest", ASYNCTEST)
    std, _ = _compare("asynctest 0.13.0: test (unittest)", _run_unittest, suite_python,
                      source, ["test"], capsys)
    assert len(std["outcomes"]) >= 100
