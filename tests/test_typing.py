"""Typing: rselectors' stubs match typeshed's selectors signatures and the runtime.

* ``mypy --strict examples/typed_usage.py`` passes (rselectors used as the stdlib module), and
  so do the README's examples (taken from README.md), which also run;
* mypy reports misuse through the stubs (so they are really used, not ``Any``);
* ``mypy.stubtest`` finds the stubs consistent with the runtime module.

Skipped only when mypy is not installed (it is in the ``test`` extra).
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest
from _support import IS_STDLIB

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="rselectors' stubs"),
    pytest.mark.timeout(300),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def mypy():
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.skip("mypy is not installed (pip install -e '.[test]' installs it)")

    def run(*args, cwd=ROOT):
        return subprocess.run(
            [sys.executable, "-m", "mypy", *args],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=cwd,
            check=False,
        )

    return run


def test_py_typed_is_shipped():
    import rselectors

    pkg = os.path.dirname(rselectors.__file__)
    for name in ("py.typed", "__init__.pyi", "_asyncio.pyi", "_install.pyi", "_rselectors.pyi"):
        assert os.path.exists(os.path.join(pkg, name)), name


def test_mypy_strict_on_the_typed_example(mypy, tmp_path):
    proc = mypy(
        "--strict",
        "--no-error-summary",
        "--cache-dir",
        str(tmp_path / "cache"),
        os.path.join(ROOT, "examples", "typed_usage.py"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def readme_example(heading):
    """The first ```python block after the line ``heading`` of README.md (read by the test, so
    the README's example cannot drift from what is checked)."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index(f"\n{heading}\n")
    block = re.search(r"\n```python\n(.*?)\n```\n", text[start:], re.DOTALL)
    assert block, f"no python block after {heading!r} in README.md"
    return block.group(1) + "\n"


README_EXAMPLES = {
    # heading: what running the example prints
    "## Quick example": "a side b'ping'\n",
    "## asyncio": "DONE\n",
    "## Typing": "True False\n",
    "### Priority and hang-up events": "True\nTrue\n",
}


@pytest.mark.parametrize("heading", list(README_EXAMPLES))
def test_readme_example_passes_mypy_strict_and_runs(mypy, tmp_path, heading):
    example = tmp_path / "readme_example.py"
    example.write_text(readme_example(heading))
    proc = mypy("--strict", "--cache-dir", str(tmp_path / "cache"), str(example))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == README_EXAMPLES[heading]


def test_mypy_reports_misuse_through_the_stubs(mypy, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        textwrap.dedent(
            """
            import rselectors as selectors

            sel = selectors.DefaultSelector()
            sel.register(3, "read")
            n: str = sel.select()
            sel.wakeup(1)
            loop: int = selectors.new_event_loop()
            reveal_type(sel.get_key(0).fd)
            reveal_type(selectors.EVENT_WRITE)

            import asyncio
            import selectors as stdlib

            async def answer() -> int:
                return 42

            reveal_type(selectors.run(answer()))
            selectors.run(answer(), loop_factory=asyncio.new_event_loop)
            selectors.run(answer)
            base: stdlib.BaseSelector = sel
            base.wakeup()
            if isinstance(base, selectors.WakeableSelector):
                reveal_type(base)
                base.wakeup()
            """
        )
    )
    proc = mypy("--strict", "--cache-dir", str(tmp_path / "cache"), str(bad), cwd=str(tmp_path))
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert 'Argument 2 to "register" of "_NativeSelectorImpl" has incompatible type "str"' in out
    assert "list[tuple[" in out  # select()'s return type in the assignment error
    assert 'Too many arguments for "wakeup"' in out
    assert '"SelectorEventLoop"' in out
    assert re.search(r'Revealed type is "(builtins\.)?int"', out), out
    assert re.search(r'Revealed type is "Literal\[2\]', out), out
    # run(): the coroutine's result type; a stdlib loop factory or a coroutine function refused
    run_line = bad.read_text().splitlines().index("reveal_type(selectors.run(answer()))") + 1
    assert re.search(rf'bad\.py:{run_line}: note: Revealed type is "(builtins\.)?int"', out), out
    assert 'Argument "loop_factory" to "run" has incompatible type' in out, out
    assert 'Argument 1 to "run" has incompatible type' in out, out
    # BaseSelector has no wakeup(); isinstance(..., WakeableSelector) narrows to one that has
    assert '"BaseSelector" has no attribute "wakeup"' in out, out
    assert 'Revealed type is "rselectors.WakeableSelector"' in out, out
    assert out.count("has no attribute \"wakeup\"") == 1, out


def test_stubtest(mypy, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "rselectors",
            "--allowlist",
            os.path.join(ROOT, "tests", "stubtest_allowlist.txt"),
            "--ignore-unused-allowlist",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(tmp_path),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
