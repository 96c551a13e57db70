"""Rust + Python hybrids, end to end: the two runnable examples of ``rselectors::python``.

- ``examples/embed.rs``: a Rust program embedding CPython, Python's echo server and a
  Rust-owned fd served by one ``select()`` loop. Built and run with
  ``cargo run --example embed --features embed`` (needs cargo and a shared libpython).
- ``examples/downstream/``: a downstream PyO3 extension shipping rselectors' classes in its
  own module and registering Rust fds on them. Built with ``maturin build``, installed into a
  fresh virtualenv, exercised there (needs cargo and maturin).

Each test skips, saying why, when its tools are missing. The builds use their own target
directories under ``$CARGO_TARGET_DIR`` (default ``target/``), so a re-run is incremental.
"""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from _support import IS_STDLIB, TARGET, needs_venv

ROOT = Path(__file__).resolve().parent.parent
TARGET_BASE = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
# Cold builds compile PyO3 (about a minute on 2 cores); warm ones take seconds.
BUILD_TIMEOUT = 900

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="Rust embedding examples: nothing to compare"),
    needs_venv,
    pytest.mark.timeout(BUILD_TIMEOUT + 60),
]


def _works(*cmd):
    """Whether ``cmd`` runs and exits 0 (a pyenv shim without the tool exits non-zero)."""
    try:
        return subprocess.run(cmd, check=False, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _require_cargo():
    if not _works("cargo", "--version"):
        pytest.skip("cargo is not installed")


def _maturin():
    """The command that runs maturin, or skip."""
    if shutil.which("maturin") and _works("maturin", "--version"):
        return ["maturin"]
    if _works(sys.executable, "-m", "maturin", "--version"):
        return [sys.executable, "-m", "maturin"]
    pytest.skip("maturin is not installed (pip install maturin)")


def _pip_can_target_another_python():
    """Whether this interpreter has pip >= 22.3 (``pip --python``)."""
    try:
        version = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        return False
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    return parts >= (22, 3)


def _run(cmd, *, env=None, cwd=ROOT, timeout=BUILD_TIMEOUT):
    """Runs ``cmd``; fails the test with its output if it fails."""
    proc = subprocess.run(
        cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} exited with {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def test_embed_example():
    """A Rust program embeds CPython; Python's echo server and a Rust fd share one loop."""
    _require_cargo()
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        pytest.skip("this Python has no shared libpython to embed")
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    # The caller's Python path settings must not leak into the embedded interpreter.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        CARGO_TARGET_DIR=str(TARGET_BASE / "hybrid-embed"),
        # Link and run against the interpreter running the tests.
        PYO3_PYTHON=sys.executable,
        LD_LIBRARY_PATH=os.pathsep.join(
            p for p in (libdir, os.environ.get("LD_LIBRARY_PATH")) if p
        ),
    )
    proc = _run(["cargo", "run", "--quiet", "--example", "embed", "--features", "embed"], env=env)
    out = proc.stdout
    assert "rust: Python created the selector (" in out, out
    clients = 3
    for i in range(clients):
        assert f"python: echoing b'hello #{i} from a Rust thread'" in out, out
        assert f'rust: report: client {i} got its echo: "hello #{i} from a Rust thread"' in out
    assert out.count("python: accepted connection") == clients, out
    assert out.count("python: closing connection") == clients, out
    assert "python: all clients accepted, closing the listening socket" in out, out
    assert f"rust: report: all {clients} clients done" in out, out
    # The Rust fd was a key of the Python selector, dispatched by the Python loop.
    assert re.search(r"data=<rselectors\.Callback for fd \d+>\)", out), out
    assert "rust: the selector's map has 2 entries" in out, out
    assert "rust: report channel closed, unregistering fd" in out, out
    done = re.search(
        r"rust: loop done: (\d+) select\(\) calls, (\d+) callbacks, (\d+) of them", out
    )
    assert done, out
    selects, callbacks, rust_callbacks = map(int, done.groups())
    assert rust_callbacks >= 1 and callbacks >= 3 * clients + rust_callbacks, out
    assert selects <= callbacks, out


DOWNSTREAM_CHECK = textwrap.dedent(
    """
    import os, selectors, sys, time

    import downstream_ext as ext

    # rselectors' classes and constants, in the downstream module.
    assert ext.EVENT_READ == selectors.EVENT_READ and ext.EVENT_WRITE == selectors.EVENT_WRITE
    classes = [getattr(ext, n) for n in ("EpollSelector", "KqueueSelector", "DevpollSelector",
                                         "PollSelector", "SelectSelector") if hasattr(ext, n)]
    assert ext.PollSelector in classes and ext.SelectSelector in classes

    class Traced(ext.PollSelector):  # a Python subclass is still a native selector
        registered = 0

        def register(self, fileobj, events, data=None):
            Traced.registered += 1
            return super().register(fileobj, events, data)

    def loop(sel):
        selects = 0
        while sel.get_map():
            events = sel.select(10)
            assert events, "nothing happened for 10 s"
            selects += 1
            for key, mask in events:
                callback = key.data
                callback(key.fileobj, mask)
        return selects

    for cls in classes + [Traced]:
        with cls() as sel:
            backend, kernel_fd = ext.native_info(sel)
            if hasattr(sel, "fileno"):
                assert kernel_fd == sel.fileno(), (cls, kernel_fd)
            else:
                assert kernel_fd is None and backend in ("poll", "select"), (cls, backend)

            ticks = []
            key = ext.start_ticker(sel, 0.005, 5, ticks.append)
            assert isinstance(key, selectors.SelectorKey), key
            assert sel.get_key(key.fd) is key and key.events == selectors.EVENT_READ
            assert repr(key.data) == f"<rselectors.Callback for fd {key.fd}>", key.data
            assert loop(sel) >= 1
            assert ticks == [1, 2, 3, 4, 5], (cls, ticks)
            assert len(sel.get_map()) == 0

            # A Rust thread wakes a blocked select() through the native selector.
            ext.wake_after(sel, 0.05)
            t0 = time.monotonic()
            assert sel.select(30) == []
            assert time.monotonic() - t0 < 10
        print("ok", cls.__name__, backend)
    assert Traced.registered == 1  # the ticker registered through the Python method

    # Not a native selector: TypeError, before anything is registered or started.
    for other in (selectors.DefaultSelector(), object()):
        try:
            ext.start_ticker(other, 0.01, 1, print)
        except TypeError as e:
            assert "expected an rselectors selector" in str(e), e
        else:
            raise AssertionError(f"no TypeError for {other!r}")
    # Closed: the closed selector's error.
    sel = ext.PollSelector()
    sel.close()
    try:
        ext.native_info(sel)
    except RuntimeError as e:
        assert str(e) == "Selector is closed", e
    else:
        raise AssertionError("no error for a closed selector")

    # The same classes from another extension (the rselectors package): a separate copy that
    # this module's Rust code cannot reach into, said so.
    if os.environ.get("RSELECTORS_PATH"):
        sys.path.append(os.environ["RSELECTORS_PATH"])
        import rselectors

        with rselectors.PollSelector() as other:
            try:
                ext.native_info(other)
            except TypeError as e:
                assert "another copy of rselectors' native classes" in str(e), e
            else:
                raise AssertionError("a foreign selector class was accepted")
        print("ok foreign copy refused")
    print("all ok")
    """
)


def test_downstream_extension(tmp_path):
    """A downstream extension ships rselectors' classes and registers Rust fds on them."""
    _require_cargo()
    maturin = _maturin()
    target_dir = TARGET_BASE / "hybrid-downstream"
    wheels = tmp_path / "wheels"
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    _run(
        [*maturin, "build", "--interpreter", sys.executable, "--out", str(wheels)],
        env=env,
        cwd=ROOT / "examples" / "downstream",
    )
    (wheel,) = wheels.glob("rselectors_downstream-*.whl")

    env_dir = tmp_path / "venv"
    install = ["install", "--quiet", "--no-index", "--no-deps", str(wheel)]
    python = env_dir / "bin" / "python"
    import venv  # (not at the top: the Windows embeddable CPython has none; needs_venv)

    if _pip_can_target_another_python():
        # Seconds faster than bootstrapping pip into the new environment.
        venv.create(env_dir, with_pip=False)
        _run([sys.executable, "-m", "pip", "--python", python, *install], timeout=300)
    else:
        venv.create(env_dir, with_pip=True)
        _run([python, "-m", "pip", *install], timeout=300)
    check = tmp_path / "check.py"
    check.write_text(DOWNSTREAM_CHECK)
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    where = Path(getattr(TARGET, "__file__", "") or ".").resolve().parent.parent
    if (where / "rselectors" / "__init__.py").exists():
        run_env["RSELECTORS_PATH"] = str(where)
    proc = _run([python, str(check)], env=run_env, cwd=tmp_path, timeout=120)
    assert proc.stdout.rstrip().endswith("all ok"), proc.stdout
    if "RSELECTORS_PATH" in run_env:
        assert "ok foreign copy refused" in proc.stdout, proc.stdout
