"""Reliability: memory-safety jobs (soak marker: ``pytest -m soak -k memcheck``).

These wrap ``scripts/memcheck`` (see it and tests/reliability/README.md):

* ``asan-rust``: the pure-Rust core's unit and integration tests (the FdMap model fuzzer
  included) under AddressSanitizer, leak detection on (nightly toolchain);
* ``valgrind``: the core's unit tests, the FdMap fuzzer, registering and readiness tests under
  valgrind memcheck (stable toolchain);
* ``asan-python``: the extension built with AddressSanitizer, then pytest under
  ``LD_PRELOAD=libasan``. With ``RSELECTORS_SOAK_SCALE`` < 1 (CI) a short subset runs (the
  FFI key tests, the bad-input, fd-reuse, leak/GC and thread reliability tests); at 1 the
  FFI key, reliability and contract suites;
* ``valgrind-python``: the FFI key tests under valgrind with the installed extension; fails on
  any error with a frame in the extension;
* the long FdMap fuzz run (``--ignored``), seeds scaled by ``RSELECTORS_SOAK_SCALE``.

A stage that cannot run on the machine (no nightly, no valgrind, no libasan) is skipped with
the script's reason.
"""

import os
import re
import subprocess
import sys

import pytest

from ._reliability import SOAK_SCALE, UNDER_MEMCHECK, record, soak_count

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "memcheck")

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(UNDER_MEMCHECK, reason="already inside scripts/memcheck"),
    pytest.mark.skipif(sys.platform != "linux", reason="the memcheck jobs are set up for Linux"),
]

SHORT = [
    "tests/test_selector_keys.py",
    "tests/reliability/test_badinput.py",
    "tests/reliability/test_fdreuse.py",
    "tests/reliability/test_leaks.py",
    "tests/reliability/test_threads.py",
]


def _run_stage(stages, pytest_args=(), timeout=3600):
    env = dict(os.environ)
    env.setdefault("PYTHON", sys.executable)
    cmd = ["bash", SCRIPT, *stages]
    if pytest_args:
        cmd += ["--", *pytest_args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    summary = proc.stdout[proc.stdout.rfind("memcheck summary:"):]
    for stage in stages:
        m = re.search(rf"^\s*{re.escape(stage)}\s+SKIPPED\s+\S+\s+(.*)$", summary,
                      re.MULTILINE)
        if m:
            pytest.skip(f"{stage}: {m.group(1)}")
    if proc.returncode != 0:
        pytest.fail(f"scripts/memcheck {' '.join(stages)} failed:\n{summary}\n"
                    f"{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}")
    record(f"memcheck[{','.join(stages)}]", summary=" | ".join(
        line.strip() for line in summary.splitlines()[1:] if line.strip()))
    return proc.stdout


@pytest.mark.timeout(3600)
def test_memcheck_rust_core_asan():
    _run_stage(["asan-rust"])


@pytest.mark.timeout(3600)
def test_memcheck_rust_core_valgrind():
    _run_stage(["valgrind"])


@pytest.mark.timeout(7200)
def test_memcheck_python_suite_asan():
    args = SHORT if SOAK_SCALE < 1 else []  # [] = the script's default: reliability + contract
    _run_stage(["asan-python"], args, timeout=7000)


@pytest.mark.timeout(3600)
def test_memcheck_python_ffi_valgrind():
    _run_stage(["valgrind-python"])


@pytest.mark.timeout(7200)
def test_fdmap_fuzz_long():
    env = dict(os.environ)
    env["FDMAP_FUZZ_SEEDS"] = str(soak_count(200, minimum=4))
    env.setdefault("CARGO_TARGET_DIR", os.path.join(REPO, "target", "memcheck"))
    proc = subprocess.run(
        ["cargo", "test", "--release", "--lib", "fdmap::fuzz", "--", "--ignored",
         "--nocapture"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=7000, check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"fdmap fuzz failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    m = re.search(r"fdmap fuzz: (\d+) seeds x (\d+) steps", proc.stdout)
    assert m, proc.stdout[-2000:]
    record("fdmap_fuzz_long", seeds=int(m.group(1)), steps_per_seed=int(m.group(2)))
