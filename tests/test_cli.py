"""``python -m rselectors``: info and echo (the benchmarks are ``benches/``: test_bench_tools.py)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from _support import (
    IS_STDLIB,
    needs_posix_signals,
    popen_with_terminal_sigint,
)

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="the rselectors command line"),
    pytest.mark.timeout(120),
]


def cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "rselectors", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_the_commands():
    proc = cli("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("info", "echo"):
        assert command in proc.stdout


def test_no_command_is_an_error():
    proc = cli()
    assert proc.returncode == 2
    assert "required" in proc.stderr


def test_version():
    import rselectors

    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"rselectors {rselectors.__version__}"


def test_info_text():
    import rselectors

    proc = cli("info")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"rselectors {rselectors.__version__}" in out
    assert f"DefaultSelector:   {rselectors.DefaultSelector.__name__}" in out
    assert re.search(r"backends: .*\(\w+Selector, default\)", out), out
    assert "timeouts:" in out and "overshoot" in out
    assert "install()ed:       no" in out


def test_info_json_matches_the_module():
    import rselectors

    proc = cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["version"] == rselectors.__version__
    assert info["default"] == rselectors.DefaultSelector.__name__
    names = {
        "epoll": "EpollSelector",
        "kqueue": "KqueueSelector",
        "poll": "PollSelector",
        "select": "SelectSelector",
        "devpoll": "DevpollSelector",
    }
    assert {names[b] for b in info["backends"]} == {
        n for n in names.values() if hasattr(rselectors, n)
    }
    assert names[info["default_backend"]] == info["default"]
    assert info["wakeup_notifier"] in ("eventfd", "pipe", "socket pair")
    if sys.platform == "win32":
        assert info["wakeup_notifier"] == "socket pair"
    assert set(info["sub_ms_timeouts"]) == set(info["backends"])
    for b in info["backends"]:
        assert isinstance(info["sub_ms_timeouts"][b]["sub_ms"], bool)
    if sys.platform.startswith("linux"):
        assert info["wakeup_notifier"] == "eventfd"
        for b in info["backends"]:  # the timerfd makes every backend's sub-ms waits precise
            assert info["sub_ms_timeouts"][b]["sub_ms"] is True
            assert info["sub_ms_timeouts"][b]["timer_below_1ms"] is True
        assert isinstance(info["sub_ms_timeouts"]["epoll"]["microseconds"], bool)
    m = info["measured"]
    assert m["rselectors_median_overshoot_us"] >= 0 and m["stdlib_median_overshoot_us"] >= 0
    assert info["installed"] is False


def test_features_accessor():
    from rselectors import _rselectors

    f = _rselectors._features()
    assert set(f) == {"backends", "default_backend", "notifier", "precise", "timer"}
    assert f["default_backend"] == f["backends"][0]
    assert set(f["precise"]) == set(f["backends"])
    # winsock's waits end on the system timer's tick (README "Windows")
    assert f["precise"]["select"] is (sys.platform != "win32")
    if sys.platform.startswith("linux"):
        assert f["precise"]["epoll"] in (True, False) and f["precise"]["poll"] is True
        assert f["timer"] is True


@needs_posix_signals
@pytest.mark.parametrize("backend", [None, "poll", "select"])
def test_echo(backend):
    args = ["-m", "rselectors", "echo", "--host", "127.0.0.1", "--port", "0"]
    if backend:
        args += ["--backend", backend]
    proc = popen_with_terminal_sigint(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        m = re.search(r"echo server on 127\.0\.0\.1:(\d+) \((\w+)\)", line)
        assert m, line + proc.stderr.read() if proc.poll() is not None else line
        port, cls = int(m.group(1)), m.group(2)
        if backend:
            assert cls == {"poll": "PollSelector", "select": "SelectSelector"}[backend]
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                c.sendall(b"hello echo")
                got = b""
                while len(got) < 10:
                    chunk = c.recv(100)
                    assert chunk
                    got += chunk
                assert got == b"hello echo"
        time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "accepted" in out and "echoing b'hello echo'" in out and "closing" in out


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows lets a socket with SO_REUSEADDR (which the server sets, as the "
    "documentation's does) bind a port in use",
)
def test_echo_bad_port_reports_the_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = cli("echo", "--host", "127.0.0.1", "--port", str(port), timeout=30)
    assert proc.returncode != 0
    assert "Address already in use" in proc.stderr


def test_a_closed_stdout_ends_quietly():
    """`python -m rselectors info | head -1`: the reader has gone away before the command
    writes; it stops without a BrokenPipeError traceback."""
    r, w = os.pipe()
    os.close(r)  # nobody will read
    try:
        proc = subprocess.run(
            [sys.executable, "-u", "-m", "rselectors", "info"],
            stdout=w, stderr=subprocess.PIPE, timeout=60, check=False,
        )
    finally:
        os.close(w)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    assert proc.returncode == 1
