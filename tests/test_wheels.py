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
from _support import (
    IS_STDLIB,
    needs_venv,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINORS = range(9, 16)  # 3.9 ... 3.15; newer ones claimed or found are added below
SMOKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wheel_smoke.py")

pytestmark = [
    needs_venv,
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
def claimed_versions():
    """The (3, minor) versions listed in RSELECTORS_PYTHONS ("3.9 3.10", commas allowed)."""
    text = os.environ.get("RSELECTORS_PYTHONS", "").replace(",", " ")
    claimed = set()
    for item in text.split():
        major, _, minor = item.partition(".")
        assert major == "3" and minor.isdigit(), f"RSELECTORS_PYTHONS: bad version {item!r}"
        claimed.add((3, int(minor)))
    return claimed


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
        [vpython, "-I", SMOKE],
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
        if version in CLAIMED:
            pytest.fail(f"CPython {version[0]}.{version[1]} is claimed by RSELECTORS_PYTHONS "
                        "but was not found")
        pytest.skip(f"no CPython {version[0]}.{version[1]} on this machine (not claimed)")
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
