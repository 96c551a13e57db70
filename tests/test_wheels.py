"""The release wheels. ``maturin build --release`` (and ``pip wheel .``) gives one wheel for the
CPython that builds it, on the full C API (the fastest build); ``maturin build --release
--features abi3-py39`` gives one portable abi3 wheel, and rselectors installs and works from it
in a fresh venv of every CPython >= 3.9 on the machine.

Marked ``slow`` (each release build takes a minute or two from cold); CI runs it. Set
``RSELECTORS_WHEEL`` to a wheel file or a directory of wheels (CI's build: the default wheel
scripts/test installed) to test those instead of building them; a missing abi3 wheel is still
built.

Interpreters are found the way a developer machine or CI runner has them: pyenv's versions
(``$PYENV_ROOT/versions/*/bin/python3``, ``pyenv root`` or ``~/.pyenv``) and ``python3.X`` on
``PATH``. ``RSELECTORS_PYTHONS`` lists the versions the environment claims to provide
(``"3.9 3.10 ..."``; CI sets it for the host and for each chroot): a claimed version that is
absent fails, an unclaimed absent one is skipped.

The smoke test each installed wheel must pass is ``tests/wheel_smoke.py`` (scripts/release
runs it on the release set too).
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest
from _support import IS_STDLIB

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINORS = range(9, 16)  # 3.9 ... 3.15; newer ones claimed or found are added below
SMOKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wheel_smoke.py")

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


def claimed_versions():
    """The (3, minor) versions listed in RSELECTORS_PYTHONS ("3.9 3.10", commas allowed)."""
    text = os.environ.get("RSELECTORS_PYTHONS", "").replace(",", " ")
    claimed = set()
    for item in text.split():
        major, _, minor = item.partition(".")
        assert major == "3" and minor.isdigit(), f"RSELECTORS_PYTHONS: bad version {item!r}"
        claimed.add((3, int(minor)))
    return claimed


INTERPRETERS = find_interpreters()
CLAIMED = claimed_versions()
VERSIONS = sorted({(3, m) for m in MINORS} | set(INTERPRETERS) | CLAIMED)


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
        # A target dir per configuration and interpreter: PyO3's differs between them, and
        # sharing target/ would make each build undo the other's.
        tag = sysconfig.get_config_var("SOABI") or "py"
        env = dict(
            os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target", f"wheel-{name}-{tag}")
        )
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
        "_bench.py",
    ):
        assert f"rselectors/{f}" in names, f
    # the package only: no tests, examples or sources
    assert all(n.startswith(("rselectors/", "rselectors-")) for n in names), names


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


def _smoke_in_fresh_venv(python, wheel, tmp_path):
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
        [vpython, "-I", SMOKE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(work),
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("SMOKE OK"), proc.stdout


@pytest.mark.parametrize("version", VERSIONS, ids=[f"{v[0]}.{v[1]}" for v in VERSIONS])
def test_abi3_wheel_in_fresh_venv(wheelhouse, version, tmp_path):
    python = INTERPRETERS.get(version)
    if python is None:
        if version in CLAIMED:
            pytest.fail(f"CPython {version[0]}.{version[1]} is claimed by RSELECTORS_PYTHONS "
                        "but was not found")
        pytest.skip(f"no CPython {version[0]}.{version[1]} on this machine (not claimed)")
    _smoke_in_fresh_venv(python, wheelhouse.abi3[0], tmp_path)


def test_default_wheel_in_fresh_venv(wheelhouse, tmp_path):
    _smoke_in_fresh_venv(sys.executable, wheelhouse.default[0], tmp_path)
