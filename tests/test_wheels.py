"""The release wheels: ``maturin build --release`` gives ONE abi3 wheel, and rselectors installs
and works in a fresh venv of every CPython >= 3.9 on the machine (from the abi3 wheel, or, for a
CPython older than the abi3 floor -- 3.9 while PyO3 is built with ``abi3-py310`` -- from a
version-specific wheel built with ``maturin build --release -i python3.9``).

Marked ``slow`` (the release build takes a minute or two from cold); CI runs it. Set
``RSELECTORS_WHEEL`` to a wheel file or a directory of wheels (CI's build: the abi3 wheel, plus
any ``cp39-cp39`` one) to test those instead of building; missing version-specific wheels are
still built.

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
    """The release wheels under test: the abi3 one, and version-specific ones for interpreters
    older than its floor (built on demand with ``maturin build -i``)."""

    def __init__(self, out):
        self.out = out
        given = os.environ.get("RSELECTORS_WHEEL")
        if given:
            self.given = (
                sorted(glob.glob(os.path.join(given, "rselectors-*.whl")))
                if os.path.isdir(given)
                else [given]
            )
            built = self.given
        else:
            self.given = []
            maturin = _maturin()
            if maturin:
                _build([maturin, "build", "--release", "--out", str(out)])
            else:  # the PEP 517 backend (maturin) in an isolated build environment
                _build([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), ROOT])
            built = sorted(glob.glob(os.path.join(out, "*.whl")))
        self.abi3 = [w for w in built if "-abi3-" in os.path.basename(w)]
        self.default_build = built

    @property
    def floor(self):
        """(3, minor): the oldest CPython the abi3 wheel is for."""
        m = WHEEL_RE.search(os.path.basename(self.abi3[0]))
        assert m, self.abi3[0]
        return 3, int(m.group(2))

    def for_version(self, version, python):
        if version >= self.floor:
            return self.abi3[0]
        tag = f"cp3{version[1]}"
        for w in self.given:
            m = WHEEL_RE.search(os.path.basename(w))
            if m and m.group(1) == tag and m.group(3) == tag:
                return w
        maturin = _maturin()
        if not maturin:
            pytest.skip(f"maturin is needed to build the {tag} wheel")
        out = self.out / tag
        # A target dir of its own: this build's PyO3 configuration differs from the abi3 one,
        # and sharing target/ would make each rebuild the other.
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target", f"wheel-{tag}"))
        # --no-default-features: a version-specific build must leave out the crate feature that
        # turns on PyO3's abi3-py3X (pyproject's features keep "python" on). PyO3 0.30 applies
        # abi3-py310 even to a 3.9 interpreter, giving a cp39 wheel that needs 3.10 symbols.
        _build(
            [
                maturin,
                "build",
                "--release",
                "-i",
                python,
                "--no-default-features",
                "--out",
                str(out),
            ],
            env=env,
        )
        wheels = sorted(glob.glob(os.path.join(out, f"*-{tag}-{tag}-*.whl")))
        assert len(wheels) == 1, wheels
        return wheels[0]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    return Wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


def test_one_abi3_wheel(wheelhouse):
    """``maturin build --release`` gives exactly one wheel, an abi3 one for CPython 3.9 or 3.10
    on (3.10: PyO3 uses METH_FASTCALL in the limited API only from there; 3.9 then gets a
    version-specific wheel, tested below)."""
    if not wheelhouse.given:
        assert len(wheelhouse.default_build) == 1, wheelhouse.default_build
    assert len(wheelhouse.abi3) == 1, wheelhouse.abi3
    wheel = wheelhouse.abi3[0]
    m = WHEEL_RE.search(os.path.basename(wheel))
    assert m and m.group(3) == "abi3", wheel
    assert (3, 9) <= wheelhouse.floor <= (3, 10), wheel
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "rselectors/_rselectors.abi3.so" in names, names
    for f in (
        "__init__.py",
        "__init__.pyi",
        "_rselectors.pyi",
        "py.typed",
        "_asyncio.py",
        "_install.py",
        "__main__.py",
        "_bench.py",
    ):
        assert f"rselectors/{f}" in names, f
    # the package only: no tests, examples or sources
    assert all(n.startswith(("rselectors/", "rselectors-")) for n in names), names


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


@pytest.mark.parametrize("version", VERSIONS, ids=[f"{v[0]}.{v[1]}" for v in VERSIONS])
def test_wheel_in_fresh_venv(wheelhouse, version, tmp_path):
    python = INTERPRETERS.get(version)
    if python is None:
        pytest.skip(f"no CPython {version[0]}.{version[1]} on this machine")
    wheel = wheelhouse.for_version(version, python)
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    vpython = str(venv / "bin" / "python")
    # This environment's pip installs into the fresh venv (pip >= 22.3: --python).
    install = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        vpython,
        "install",
        "--no-deps",
        "--no-index",
        "--no-cache-dir",
        "--disable-pip-version-check",
        wheel,
    ]
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
        install = [vpython, "-m", "pip", "install", "--no-deps", "--no-index", wheel]
        proc = subprocess.run(install, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Run from an empty directory so nothing from the checkout can be imported.
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(
        [vpython, "-I", "-c", SMOKE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(work),
        env=env,
        check=False,
    )
    hint = ""
    if "undefined symbol" in proc.stderr and version < wheelhouse.floor:
        hint = (
            f"\n{os.path.basename(wheel)} was compiled against the abi3 floor "
            f"{wheelhouse.floor}: build it without PyO3's abi3-py3X feature (see Wheelhouse)"
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr + hint
    assert proc.stdout.startswith("SMOKE OK"), proc.stdout
