"""Every program in examples/ runs (each in its own interpreter) and does what it says."""

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from _support import IS_STDLIB, TARGET, needs_posix_signals

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="the examples import rselectors"),
    pytest.mark.timeout(120),
]


def example(name):
    path = os.path.join(EXAMPLES, name)
    assert os.path.exists(path), path
    return path


def start(args, **kw):
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def stop(proc, sig=None):
    """Ends ``proc`` (with ``sig``, else kill()) and returns its output."""
    if proc.poll() is None:
        if sig is None:
            proc.kill()
        else:
            proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


def read_line_matching(proc, pattern, timeout=30):
    """The first stdout line of ``proc`` matching ``pattern`` (a regex match object)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            _, err = stop(proc)
            pytest.fail(f"process exited ({proc.returncode}): {''.join(seen)}{err}")
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    stop(proc)
    pytest.fail(f"no line matching {pattern!r} in {seen}")


def connect(host, port, timeout=10):
    """Connect, retrying while refused (a server may print its port before listen())."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def echo_round_trips(port, messages, host="127.0.0.1"):
    with connect(host, port) as c:
        got = []
        for msg in messages:
            c.sendall(msg)
            data = b""
            while len(data) < len(msg):
                chunk = c.recv(1000)
                assert chunk, "server closed the connection"
                data += chunk
            got.append(data)
    return got


# The seed's echo server binds ('localhost', 1234) and takes no arguments. So that the test
# never collides with anything else on the machine, it runs the example file unchanged with
# socket.socket.bind remapping exactly that address to a free port, which it reports.
ECHO_WRAPPER = textwrap.dedent(
    """
    import runpy, socket, sys
    _bind = socket.socket.bind
    def bind(self, address):
        if address == ("localhost", 1234):
            _bind(self, ("localhost", 0))
            print("PORT", self.getsockname()[1], flush=True)
        else:
            _bind(self, address)
    socket.socket.bind = bind
    runpy.run_path(sys.argv[1], run_name="__main__")
    """
)


def test_echo_server():
    path = example("echo_server.py")
    with open(path, encoding="utf-8") as f:
        assert "import rselectors as selectors\n" in f.read()
    proc = start(["-u", "-c", ECHO_WRAPPER, path])
    try:
        port = int(read_line_matching(proc, r"^PORT (\d+)").group(1))
        host = "127.0.0.1"  # what "localhost" means to an AF_INET socket
        msgs = [b"hello", b"rselectors " * 50, b"bye"]
        assert echo_round_trips(port, msgs, host) == msgs
        assert echo_round_trips(port, [b"second client"], host) == [b"second client"]
        time.sleep(0.2)  # let it print "closing"
    finally:
        out, err = stop(proc)
    assert "accepted" in out and "echoing b'hello'" in out and "closing" in out, out + err
    assert "Traceback" not in err, err


@needs_posix_signals
def test_asyncio_echo_server_mode():
    proc = start([example("asyncio_echo.py"), "--host", "127.0.0.1", "--port", "0", "-v"])
    try:
        m = read_line_matching(proc, r"serving on 127\.0\.0\.1:(\d+) with (\w+) on (\w+)")
        port, loop_cls, sel_cls = int(m.group(1)), m.group(2), m.group(3)
        assert loop_cls == "SelectorEventLoop"
        assert sel_cls in ("EpollSelector", "KqueueSelector", "PollSelector", "SelectSelector")
        msgs = [b"one\n", b"two " * 300 + b"\n"]
        assert echo_round_trips(port, msgs) == msgs
    finally:
        out, err = stop(proc, signal.SIGINT)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err, err


def test_asyncio_echo_demo():
    proc = subprocess.run(
        [sys.executable, example("asyncio_echo.py"), "--demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo: 20 clients echoed 10 lines each" in proc.stdout


@pytest.mark.parametrize("backend", [None, "epoll", "poll", "select"])
def test_threaded_register(backend):
    name = {"epoll": "EpollSelector", "poll": "PollSelector", "select": "SelectSelector"}
    if backend and not hasattr(TARGET, name[backend]):
        pytest.skip(f"no {name[backend]} on this platform")
    args = [example("threaded_register.py"), "--workers", "6", "--per-worker", "40"]
    if backend:
        args += ["--backend", backend]
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "240 messages from 6 threads" in proc.stdout


def test_typed_usage_runs():
    proc = subprocess.run(
        [sys.executable, example("typed_usage.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "ok"


def _cargo_example(name, *args):
    """Runs a pure-Rust example (no Python feature) and returns its stdout."""
    import shutil

    if sys.platform == "win32":
        pytest.skip("the Rust examples run under Wine in scripts/test-windows (cargo runs them "
                    "from Linux); this Windows has no cargo")
    if shutil.which("cargo") is None:
        pytest.fail("cargo is needed for the Rust examples (the README's test command has it)")
    root = os.path.dirname(EXAMPLES)
    proc = subprocess.run(
        ["cargo", "run", "--quiet", "--example", name, "--", *args],
        check=False, cwd=root, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_rust_echo_server():
    """examples/echo.rs: std::net echo server on one Selector, three clients against it."""
    out = _cargo_example("echo", "--self-test")
    assert re.search(r"echo server on 127\.0\.0\.1:\d+", out), out
    for i in range(3):
        assert f'client got back "hello {i}\\n"' in out, out


def test_rust_waker():
    """examples/waker.rs: four threads' results all reach the loop through wake-ups, and
    wake-ups that arrive together are coalesced (fewer wake-ups than results)."""
    out = _cargo_example("waker")
    m = re.search(r"received (\d+) results in (\d+) wake-ups", out)
    assert m, out
    assert int(m.group(1)) == 100 and 1 <= int(m.group(2)) <= 100
