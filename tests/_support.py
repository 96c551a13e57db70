"""Shared helpers for the Python test-suite: which module is under test, its selector
classes, and small utilities to compare outcomes with the stdlib.

The module under test is chosen by ``RSELECTORS_UNDER_TEST`` (default ``rselectors``);
``RSELECTORS_UNDER_TEST=selectors`` runs the suite against the stdlib to validate the tests
themselves. If the target cannot be imported the whole run fails: a missing build must never
look like a green run.
"""

import importlib
import importlib.util
import os
import pickle
import platform
import select as _select_module
import selectors as stdlib
import signal
import socket
import subprocess
import sys
import time
import traceback
import warnings

import pytest

TARGET_NAME = os.environ.get("RSELECTORS_UNDER_TEST", "rselectors")
try:
    TARGET = importlib.import_module(TARGET_NAME)
except ImportError as exc:  # fail loudly, never skip
    raise ImportError(
        f"cannot import the module under test {TARGET_NAME!r} ({exc}); build it "
        "(`maturin develop`) or set RSELECTORS_UNDER_TEST=selectors to test the stdlib"
    ) from exc

IS_STDLIB = TARGET is stdlib

WINDOWS = sys.platform == "win32"


def _wine_version():
    """Wine's version when this Windows is Wine (its ntdll exports ``wine_get_version``)."""
    if not WINDOWS:
        return None
    import ctypes

    try:
        get = ctypes.WinDLL("ntdll").wine_get_version
    except AttributeError:
        return None
    get.restype = ctypes.c_char_p
    return get().decode()


#: The Wine version this runs under (scripts/test-windows), or None.
WINE = _wine_version()


def wine_gap(reason):
    """Mark a test that Wine, not Windows, cannot pass: a strict xfail under Wine (a pass
    there fails the run: the gap is gone), ``reason`` saying how Wine differs, and the
    ``wine_gap`` marker (``-m wine_gap``). scripts/test-windows requires the stdlib to fail
    the same test under Wine."""

    def mark(test):
        test = pytest.mark.wine_gap(reason)(test)
        return pytest.mark.xfail(WINE is not None, reason=f"Wine {WINE}: {reason}", strict=True)(
            test
        )

    return mark


#: Skip conditions named after what a test needs that a platform lacks (Windows: select()
#: takes sockets only; no fork; no POSIX signals). Each says why when it skips.
needs_pipes = pytest.mark.skipif(
    WINDOWS, reason="needs a pipe or file in select(): Windows' select() takes sockets only"
)
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
needs_posix_signals = pytest.mark.skipif(
    not hasattr(signal, "pthread_kill"), reason="needs POSIX signals (pthread_kill, SIGUSR1)"
)
needs_unix_sockets = pytest.mark.skipif(
    not hasattr(socket, "AF_UNIX"), reason="needs AF_UNIX sockets"
)
needs_fd_numbers = pytest.mark.skipif(
    WINDOWS,
    reason="needs os.dup/dup2 on a socket's number: Windows sockets are handles, not C fds",
)


#: Tests that run a script which imports from its own directory (the benchmark scripts).
needs_script_dir_on_path = pytest.mark.skipif(
    getattr(sys.flags, "safe_path", False),  # the flag is 3.11's
    reason="runs a script that imports from its own directory, which this interpreter leaves "
    "off sys.path (safe_path: the Windows embeddable build's ._pth file sets it)",
)
#: asyncio's default event loop is a selector loop (Windows': the ProactorEventLoop).
needs_selector_default_loop = pytest.mark.skipif(
    WINDOWS, reason="asyncio's default loop on Windows is the ProactorEventLoop: no selector"
)
#: The stdlib's modules as source files (the Windows embeddable build has only .pyc in a zip).
needs_stdlib_sources = pytest.mark.skipif(
    not os.path.isfile(stdlib.__file__),
    reason=f"needs the stdlib's source files ({stdlib.__file__} is not one: this CPython has "
    "only compiled modules, in a zip)",
)
#: venv and pip in the interpreter running the tests (to build or install wheels with it).
needs_venv = pytest.mark.skipif(
    importlib.util.find_spec("venv") is None,
    reason="needs venv and pip in this CPython (the Windows embeddable build has neither; "
    "scripts/test-windows builds and installs its wheel from the host)",
)


def needs_selector(name):
    """Skip unless the module under test has the selector class ``name`` here."""
    return pytest.mark.skipif(
        not hasattr(TARGET, name), reason=f"needs {name}, which this platform does not have"
    )


def _slowdown():
    try:
        value = int(os.environ.get("RSELECTORS_TEST_SLOWDOWN", "1"))
    except ValueError:
        return 1
    return max(value, 1)


#: How many times slower than native the tests run: ``RSELECTORS_TEST_SLOWDOWN`` (a whole
#: number, default 1), which scripts/test-aarch64 (qemu's emulation) and scripts/test-windows
#: (Wine) set. The Rust tests read the same variable (tests/common/mod.rs; scripts/memcheck
#: sets it for valgrind). It scales deadlock guards and upper bounds on how long something
#: may take, never a lower bound and never a timeout the test passes to the code under test.
SLOWDOWN = _slowdown()

#: Every selector class name the stdlib may define, in a stable order.
ALL_CLASS_NAMES = (
    "EpollSelector",
    "PollSelector",
    "SelectSelector",
    "KqueueSelector",
    "DevpollSelector",
)
#: Backends whose modify() goes through the kernel modify + ``key._replace`` (keeps the old
#: fileobj and the registration order).
POLL_LIKE = frozenset({"EpollSelector", "PollSelector", "DevpollSelector"})
#: Backends whose modify() with changed events is unregister + register (new fileobj,
#: re-inserted at the end of the map).
REINSERTING = frozenset({"SelectSelector", "KqueueSelector"})

CLASS_NAMES = tuple(name for name in ALL_CLASS_NAMES if hasattr(TARGET, name))
SELECTOR_CLASSES = tuple(getattr(TARGET, name) for name in CLASS_NAMES)
_KIND = {getattr(TARGET, name): name for name in CLASS_NAMES}

EVENT_READ = stdlib.EVENT_READ
EVENT_WRITE = stdlib.EVENT_WRITE
EVENT_BOTH = EVENT_READ | EVENT_WRITE


def kind(cls):
    """The stdlib name of a target selector class (``"EpollSelector"``...)."""
    return _KIND[cls]


def stdlib_class(cls):
    """The stdlib class of the same kind as the target class ``cls``."""
    return getattr(stdlib, kind(cls))


def fixes_stdlib(reason):
    """Mark a test (or a param) that asserts a deliberate difference from the stdlib."""
    return pytest.mark.fixes_stdlib(reason)


def windows_fixes_stdlib(reason):
    """``fixes_stdlib(reason)`` on Windows only (where its stdlib differs); elsewhere nothing."""
    return fixes_stdlib(reason) if WINDOWS else (lambda test: test)


#: Windows' stdlib select() refuses empty sets (README "Known differences").
EMPTY_SETS = "Windows: the stdlib's select() with nothing registered raises WinError 10022"


def class_params(fixes=None):
    """``pytest.param`` per target selector class; ``fixes`` maps class names to a
    fixes_stdlib reason for the backends where the tested behaviour is one of our fixes."""
    fixes = fixes or {}
    out = []
    for name, cls in zip(CLASS_NAMES, SELECTOR_CLASSES):
        marks = [fixes_stdlib(fixes[name])] if name in fixes else []
        out.append(pytest.param(cls, id=name, marks=marks))
    return out


def outcome(func, *args, **kwargs):
    """``("ok", result)`` or ``("raise", exception type, exception args)``."""
    try:
        return ("ok", func(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - any exception is an outcome
        return ("raise", type(exc), exc.args)


def raised(func, *args, **kwargs):
    """The exception ``func`` raises (fails the test if it returns)."""
    try:
        result = func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any exception is an outcome
        return exc
    pytest.fail(f"{func!r}{args!r} returned {result!r} instead of raising")


def assert_raises_like(expected, func, *args, **kwargs):
    """``func`` raises an exception of exactly ``type(expected)`` with the same args."""
    exc = raised(func, *args, **kwargs)
    assert type(exc) is type(expected), (exc, expected)
    assert exc.args == expected.args, (exc.args, expected.args)
    return exc


def popen_with_terminal_sigint(cmd, **kw):
    """Popen whose child starts with SIGINT's default disposition, as a shell gives a foreground
    command. A background job (e.g. a CI runner started with ``&``) inherits SIGINT ignored,
    and Python then never raises KeyboardInterrupt. A handler set here is reset to the default
    by exec in the child (an ignored signal would stay ignored)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(cmd, **kw)
    finally:
        signal.signal(signal.SIGINT, old)


def socketpair():
    """A nonblocking stream socketpair: AF_UNIX, or on Windows the connected loopback TCP pair
    ``socket.socketpair()`` makes there."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def tcp_pair():
    """A connected, non-blocking loopback TCP pair (what asyncio and socket.socketpair() use
    on Windows; urgent data needs TCP)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname())
        b, _ = listener.accept()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def fill(sock):
    """Send on ``sock`` until its buffer is full (so it is no longer writable)."""
    chunk = b"x" * 65536
    total = 0
    while True:
        try:
            total += sock.send(chunk)
        except (BlockingIOError, InterruptedError):
            if len(chunk) == 1:
                return total
            chunk = chunk[: len(chunk) // 8] or b"x"


def drain(sock):
    """Receive everything pending on ``sock``; returns the number of bytes."""
    total = 0
    while True:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return total
        if not data:
            return total
        total += len(data)


def key_tuple(key):
    """A key as a comparable tuple: fileobj by identity (ints/bools by type and value),
    fd and events with their types, data by identity."""
    fileobj = key.fileobj
    if isinstance(fileobj, int):
        fileobj_id = ("int", type(fileobj), fileobj)
    else:
        fileobj_id = ("obj", id(fileobj))
    return (
        type(key),
        fileobj_id,
        (type(key.fd), key.fd),
        (type(key.events), key.events),
        id(key.data),
    )


class FilenoObj:
    """A file object whose fileno() returns (or raises) what it is told."""

    def __init__(self, value):
        self.value = value

    def fileno(self):
        if isinstance(self.value, BaseException):
            # drop the previous traceback: re-raising one instance would otherwise grow
            # its traceback (and keep every frame alive) on each call
            raise self.value.with_traceback(None)
        if isinstance(self.value, type) and issubclass(self.value, BaseException):
            raise self.value("fileno() failed on purpose")
        return self.value

    def __repr__(self):
        return f"<FilenoObj {self.value!r}>"


def _read_all(fd, deadline):
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = _select_module.select([fd], [], [], left)
        if not r:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class Child:
    """Runs ``fn()`` in a forked child; ``result()`` returns what it returned or fails the
    test with the child's traceback (or a timeout)."""

    def __init__(self, fn):
        r, w = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # child: never return into pytest
            status = 0
            try:
                os.close(r)
                try:
                    payload = pickle.dumps(("ok", fn()))
                except BaseException:  # noqa: BLE001 - reported to the parent
                    payload = pickle.dumps(("err", traceback.format_exc()))
                    status = 1
                view = memoryview(payload)
                while view:
                    view = view[os.write(w, view):]
            finally:
                os._exit(status)
        os.close(w)
        self.pid = pid
        self.r = r

    def result(self, timeout=30):
        deadline = time.monotonic() + timeout
        try:
            data = _read_all(self.r, deadline)
        finally:
            os.close(self.r)
        if data is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            pytest.fail(f"child {self.pid} did not finish within {timeout}s (deadlock?)")
        _, status = os.waitpid(self.pid, 0)
        if not data:
            pytest.fail(f"child {self.pid} died without a report, wait status {status}")
        verdict, value = pickle.loads(data)
        if verdict != "ok":
            pytest.fail(f"in the child:\n{value}")
        assert os.waitstatus_to_exitcode(status) == 0 if hasattr(os, "waitstatus_to_exitcode") \
            else status == 0
        return value


def open_fds():
    """This process's open fd numbers (as strings), not counting those the listing itself
    opened (closed again by the time their link is read). None on Windows, which has no such
    list (and where Wine would show its Linux process's /proc)."""
    if WINDOWS:
        return None
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.readlink(f"/proc/self/fd/{name}")
        except FileNotFoundError:
            continue
        fds.add(name)
    return fds


#: The syscalls a selector waits in (epoll_wait, epoll_pwait, epoll_pwait2, poll, ppoll,
#: select, pselect6), by the kernel's machine: /proc/<pid>/task/<tid>/syscall names the one a
#: thread is blocked in, in the kernel's numbering.
_WAIT_SYSCALLS = {
    "x86_64": {232, 281, 441, 7, 271, 23, 270},
    "aarch64": {22, 441, 73, 72},
}


def kernel_machine():
    """The machine the kernel runs on. It differs from ``platform.machine()`` (the process's)
    under a user-mode emulator: qemu-user reports the emulated CPU in ``uname()`` but makes
    the kernel's own system calls, so /proc shows the kernel's syscall numbers."""
    try:
        with open("/proc/sys/kernel/arch") as f:  # (on kernels that have it)
            return f.read().strip()
    except OSError:
        return platform.machine()


def blocked_in_wait(native_id, timeout=10.0):
    """Waits until thread ``native_id`` (``threading.get_native_id()``) of this process is
    blocked in a selector's wait syscall; False if it is not within ``timeout`` s. None if
    this platform cannot tell (not Linux, or a machine not in the table)."""
    waits = _WAIT_SYSCALLS.get(kernel_machine())
    path = f"/proc/self/task/{native_id}/syscall"
    if waits is None or not os.path.exists(path):
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                first = f.read().split()[0]
        except (OSError, IndexError):
            return False  # the thread is gone
        if first.isdigit() and int(first) in waits:
            return True
        time.sleep(0.005)
    return False
