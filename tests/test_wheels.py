"""The release wheels. ``maturin build --release`` (and ``pip wheel .``) gives one wheel for the
CPython that builds it, on the full C API (the fastest build); ``maturin build --release
--features abi3-py39`` gives one portable abi3 wheel, and rselectors installs and works from it
in a fresh venv of every CPython >= 3.9 on the machine, where ``tests/test_run.py``
(``rselectors.run()``, whose code differs per Python version) also runs against the wheel.

Marked ``slow`` (each release build takes a minute or two from cold); CI runs it. Set
``RSELECTORS_WHEEL`` to a wheel file or a directory of wheels (CI's build: the default wheel
scripts/test installed) to test those instead of building them; a missing abi3 wheel is still
built.

Interpreters are found the way a developer machine or CI runner has them: pyenv's versions
(``$PYENV_ROOT/versions/*/bin/python3``, ``pyenv root`` or ``~/.pyenv``) and ``python3.X`` on
``PATH``. A version that is absent is skipped, not failed.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest
from _support import IS_STDLIB

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINORS = range(9, 15)  # 3.9 ... 3.14; newer ones found on the machine are added below

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(IS_STDLIB, reason="tests rselectors' wheel"),
    pytest.mark.timeout(900),
]


def _interpreter_version(path):
    """(major, minor) of a CPython interpreter, or None if it is not a working CPython."""
    try:
        out = subprocess.run(
            [
                path,
                "-c",
                (
                    "import sys, platform; print(platform.python_implementation(), "
                    "*sys.version_info[:2])"
                ),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 3 or out[0] != "CPython":
        return None
    return int(out[1]), int(out[2])


def find_interpreters():
    """{(3, minor): path} of the CPython >= 3.9 interpreters on this machine."""
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    if shutil.which("pyenv"):
        try:
            roots.append(
                subprocess.run(
                    ["pyenv", "root"], capture_output=True, text=True, timeout=30, check=True
                ).stdout.strip()
            )
        except (OSError, subprocess.SubprocessError):
            pass
    candidates = []
    for root in filter(None, roots):
        candidates += sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3")))
    for minor in range(9, 30):
        found = shutil.which(f"python3.{minor}")
        if found:
            candidates.append(found)
    found = {}
    for path in candidates:
        if not os.access(path, os.X_OK):
            continue
        version = _interpreter_version(path)
        if version and version >= (3, 9) and version not in found:
            found[version] = path
    return found


INTERPRETERS = find_interpreters()
VERSIONS = sorted({(3, m) for m in MINORS} | set(INTERPRETERS))


WHEEL_RE = re.compile(r"rselectors-[^-]+-(cp3(\d+))-(abi3|cp3\d+)-[\w.]+\.whl$")


def _maturin():
    return shutil.which("maturin") or shutil.which("maturin", path=os.path.dirname(sys.executable))


def _build(cmd, env=None):
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=840, check=False, env=env
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"


class Wheelhouse:
    """The release wheels under test: the default build (for this interpreter) and the abi3 one,
    each taken from ``RSELECTORS_WHEEL`` or built on demand."""

    def __init__(self, out):
        self.out = out
        given = os.environ.get("RSELECTORS_WHEEL")
        if not given:
            self.given = []
        elif os.path.isdir(given):
            self.given = sorted(glob.glob(os.path.join(given, "rselectors-*.whl")))
        else:
            self.given = [given]
        self._default = None
        self._abi3 = None

    def _maturin_build(self, name, *args):
        """Wheels of ``maturin build --release ARGS`` (pip's PEP 517 build without maturin)."""
        out = self.out / name
        # A target dir per configuration: PyO3's differs between them, and sharing target/
        # would make each build undo the other's.
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target", f"wheel-{name}"))
        maturin = _maturin()
        if maturin:
            _build([maturin, "build", "--release", *args, "--out", str(out)], env=env)
        elif not args:
            _build(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), ROOT], env=env
            )
        else:
            pytest.skip("maturin is needed to build the abi3 wheel")
        return sorted(glob.glob(os.path.join(out, "*.whl")))

    @property
    def default(self):
        """The default build's wheels (given, or built: exactly what it produced)."""
        if self._default is None:
            given = [w for w in self.given if "-abi3-" not in os.path.basename(w)]
            self._default = given or self._maturin_build("default")
        return self._default

    @property
    def abi3(self):
        """The abi3 build's wheels (given, or built with ``--features abi3-py39``)."""
        if self._abi3 is None:
            given = [w for w in self.given if "-abi3-" in os.path.basename(w)]
            self._abi3 = given or self._maturin_build("abi3", "--features", "abi3-py39")
        return self._abi3


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    return Wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


def _check_contents(wheel, so_name):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert f"rselectors/{so_name}" in names, names
    for f in (
        "__init__.py",
        "__init__.pyi",
        "_rselectors.pyi",
        "py.typed",
        "_asyncio.py",
        "_install.py",
        "__main__.py",
        "_echo.py",
    ):
        assert f"rselectors/{f}" in names, f
    # the package only: no tests, examples, sources or benchmark engine
    assert all(n.startswith(("rselectors/", "rselectors-")) for n in names), names
    assert not any("bench" in n for n in names), names


def test_default_wheel_is_for_this_python(wheelhouse):
    """The default build gives one wheel, for this CPython's own ABI (not abi3)."""
    assert len(wheelhouse.default) == 1, wheelhouse.default
    wheel = wheelhouse.default[0]
    m = WHEEL_RE.search(os.path.basename(wheel))
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    assert m and m.group(1) == tag and m.group(3) == tag, wheel
    soabi = sysconfig.get_config_var("EXT_SUFFIX")
    _check_contents(wheel, f"_rselectors{soabi}")


def test_one_abi3_wheel(wheelhouse):
    """``--features abi3-py39`` gives exactly one wheel, an abi3 one for CPython >= 3.9."""
    assert len(wheelhouse.abi3) == 1, wheelhouse.abi3
    wheel = wheelhouse.abi3[0]
    m = WHEEL_RE.search(os.path.basename(wheel))
    assert m and m.group(1) == "cp39" and m.group(3) == "abi3", wheel
    _check_contents(wheel, "_rselectors.abi3.so")


SMOKE = textwrap.dedent(
    r"""
    import asyncio, json, os, selectors as std, socket, subprocess, sys, threading
    import rselectors

    here = os.path.dirname(rselectors.__file__)
    assert here.startswith(sys.prefix), (here, sys.prefix)  # the wheel, not a checkout
    import glob
    assert glob.glob(os.path.join(here, "_rselectors.*so")), os.listdir(here)

    # register / select / modify / unregister on every class, and DefaultSelector
    classes = [getattr(rselectors, n) for n in
               ("EpollSelector", "KqueueSelector", "PollSelector", "SelectSelector")
               if hasattr(rselectors, n)]
    assert rselectors.DefaultSelector in classes
    for cls in classes:
        a, b = socket.socketpair()
        with cls() as sel:
            assert isinstance(sel, std.BaseSelector)
            key = sel.register(a, rselectors.EVENT_READ, "data")
            assert isinstance(key, std.SelectorKey) and key.fd == a.fileno()
            assert sel.select(0) == []
            b.send(b"x")
            assert sel.select(5) == [(key, rselectors.EVENT_READ)]
            key2 = sel.modify(a, rselectors.EVENT_READ | rselectors.EVENT_WRITE, "more")
            assert sel.select(5) == [(key2, 3)] and sel.get_map()[a] is key2
            assert sel.unregister(a) is key2 and len(sel.get_map()) == 0
            threading.Timer(0.01, sel.wakeup).start()
            assert sel.select(10) == []
        a.close(); b.close()

    # asyncio round trip on rselectors' loop
    async def main():
        async def handle(r, w):
            w.write((await r.readline()).upper()); await w.drain(); w.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            threading.Timer(0.01, loop.call_soon_threadsafe, (fut.set_result, 1)).start()
            assert await fut == 1
            assert await loop.run_in_executor(None, sum, [1, 2]) == 3
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"ping\n")
            line = await r.readline()
            w.close()
            return type(loop).__name__, type(loop._selector).__name__, line

    if sys.version_info >= (3, 12):
        got = asyncio.run(main(), loop_factory=rselectors.new_event_loop)
    elif sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=rselectors.new_event_loop) as runner:
            got = runner.run(main())
    else:
        asyncio.set_event_loop_policy(rselectors.EventLoopPolicy())
        got = asyncio.run(main())
        asyncio.set_event_loop_policy(None)
    assert got == ("SelectorEventLoop", rselectors.DefaultSelector.__name__, b"PING\n"), got

    # install(): asyncio's default loop gets our selector
    rselectors.install()
    loop = asyncio.new_event_loop()
    assert type(loop._selector) is rselectors.DefaultSelector
    loop.close()
    rselectors.uninstall()

    info = json.loads(subprocess.run([sys.executable, "-m", "rselectors", "info", "--json"],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["default"] == rselectors.DefaultSelector.__name__
    print("SMOKE OK", rselectors.__version__, sys.version.split()[0])
    """
)


def _pip_install(vpython, *args):
    """``pip install ARGS`` into the venv of ``vpython`` (which has no pip of its own yet);
    the CompletedProcess."""
    # This environment's pip installs into the fresh venv (pip >= 22.3: --python).
    options = ["--no-cache-dir", "--disable-pip-version-check"]
    install = [sys.executable, "-m", "pip", "--python", vpython, "install", *options, *args]
    proc = subprocess.run(install, capture_output=True, text=True, timeout=300, check=False)
    # An old pip lacks --python; a new one may refuse an interpreter it no longer supports
    # ("This version of pip does not support python 3.9"): use the venv's own pip then.
    unsupported = (
        "no such option: --python" in proc.stderr
        or "does not support python" in proc.stdout + proc.stderr
    )
    if proc.returncode != 0 and unsupported:
        subprocess.run(
            [vpython, "-m", "ensurepip", "--default-pip"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        install = [vpython, "-m", "pip", "install", *options, *args]
        proc = subprocess.run(install, capture_output=True, text=True, timeout=300, check=False)
    return proc


def _fresh_venv(python, wheel, path):
    """A new venv of ``python`` under ``path`` with ``wheel`` installed; its interpreter."""
    venv = path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    vpython = str(venv / "bin" / "python")
    proc = _pip_install(vpython, "--no-deps", "--no-index", wheel)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return vpython


#: the environment of commands run in a fresh venv: nothing from the checkout on the path
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _smoke_in_fresh_venv(python, wheel, tmp_path):
    vpython = _fresh_venv(python, wheel, tmp_path)
    # Run from an empty directory so nothing from the checkout can be imported.
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [vpython, "-I", "-c", SMOKE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(work),
        env=CLEAN_ENV,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("SMOKE OK"), proc.stdout


VERSION_IDS = [f"{v[0]}.{v[1]}" for v in VERSIONS]


def _interpreter(version):
    python = INTERPRETERS.get(version)
    if python is None:
        pytest.skip(f"no CPython {version[0]}.{version[1]} on this machine")
    return python


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_abi3_wheel_in_fresh_venv(wheelhouse, version, tmp_path):
    _smoke_in_fresh_venv(_interpreter(version), wheelhouse.abi3[0], tmp_path)


def test_default_wheel_in_fresh_venv(wheelhouse, tmp_path):
    _smoke_in_fresh_venv(sys.executable, wheelhouse.default[0], tmp_path)


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_run_tests_on_every_cpython(wheelhouse, version, tmp_path):
    """tests/test_run.py (rselectors.run() against asyncio.run()) in a fresh venv of each
    CPython, with the abi3 wheel installed: run()'s code differs per version (3.9/3.10,
    3.11, 3.12+). pytest is installed into the venv from the package index."""
    vpython = _fresh_venv(_interpreter(version), wheelhouse.abi3[0], tmp_path)
    proc = _pip_install(vpython, "pytest>=8", "pytest-timeout>=2.3")
    if proc.returncode != 0:
        pytest.skip(f"cannot install pytest into the fresh venv: {proc.stderr.strip()[-300:]}")
    proc = subprocess.run(
        [vpython, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_run.py"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=dict(CLEAN_ENV, RSELECTORS_UNDER_TEST="rselectors"),
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # the wheel in the venv was tested, not the checkout
    under_test = re.search(r"selectors module under test: rselectors \((.*)\)", out)
    assert under_test and under_test.group(1).startswith(str(tmp_path / "venv")), out
    assert re.search(r"\b\d+ passed\b", out) and " skipped" not in out, out
