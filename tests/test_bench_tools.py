"""The benchmark's native tools stay buildable and correct: a reference that returned the wrong
thing would be "fast" for the wrong reason.

- ``benches/floor`` (``_cfloor``, the C floor): the same operations on it and on the stdlib
  give the same results.
- ``benches/loadgen/echo_client.c`` (the native load client): it speaks the engine's client
  protocol, loads real echo servers, and rejects bad arguments.

Skipped where there is no C compiler (or no Python headers for the floor).
"""

import importlib
import importlib.util
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import sysconfig
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHES = os.path.join(ROOT, "benches")

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="epoll tools: Linux only"),
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc"),
    pytest.mark.timeout(180),
]


def _load_by_path(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def cfloor(tmp_path_factory):
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        pytest.skip("no Python headers")
    build = _load_by_path("_floor_build", os.path.join(BENCHES, "floor", "build.py"))
    out = build.build(str(tmp_path_factory.mktemp("cfloor")))
    sys.path.insert(0, out)
    try:
        yield importlib.import_module("_cfloor")
    finally:
        sys.path.remove(out)
        sys.modules.pop("_cfloor", None)


@pytest.fixture(scope="module")
def echo_client(tmp_path_factory):
    exe = str(tmp_path_factory.mktemp("loadgen") / "echo_client")
    src = os.path.join(BENCHES, "loadgen", "echo_client.c")
    proc = subprocess.run(
        ["gcc", "-O2", "-Wall", "-Werror", "-o", exe, src],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return exe


@pytest.fixture(scope="module")
def engine():
    return _load_by_path("_bench_engine", os.path.join(ROOT, "python", "rselectors", "_bench.py"))


def _ready(result):
    """select()'s result as (key tuple, events) pairs in fd order."""
    return sorted(((tuple(k), e) for k, e in result), key=lambda pair: pair[0][1])


def _script(mod):
    """One fixed sequence of calls; returns what a caller can observe (keys as tuples)."""
    out = []
    pairs = [socket.socketpair() for _ in range(3)]
    sel = mod.EpollSelector()
    try:
        (a0, b0), (a1, _), (a2, _) = pairs
        out.append(tuple(sel.register(a0, mod.EVENT_READ, "d0")))
        out.append(tuple(sel.register(a1.fileno(), mod.EVENT_WRITE)))
        out.append(tuple(sel.register(a2, mod.EVENT_READ | mod.EVENT_WRITE, 2)))
        b0.send(b"x")
        out.append(_ready(sel.select(0)))
        out.append(tuple(sel.modify(a0, mod.EVENT_READ | mod.EVENT_WRITE, "d0")))
        out.append(tuple(sel.modify(a1.fileno(), mod.EVENT_WRITE, "new data")))
        out.append(_ready(sel.select(0.01)))
        out.append(tuple(sel.get_key(a2)))
        out.append(tuple(sel.get_map().get(a1.fileno())))
        out.append(sel.get_map().get(12345, "missing"))
        out.append(len(sel.get_map()))
        out.append(tuple(sel.unregister(a2)))
        for call in (lambda: sel.get_key(a2), lambda: sel.unregister(a2)):
            with pytest.raises(KeyError):
                call()
        with pytest.raises(KeyError):
            sel.register(a0, mod.EVENT_READ)
        with pytest.raises(ValueError):
            sel.register(a2, 4)
        a0.recv(1)
        out.append(_ready(sel.select(0)))
        out.append(len(sel.get_map()))
    finally:
        sel.close()
        for a, b in pairs:
            a.close()
            b.close()
    return out


def test_floor_behaves_like_the_stdlib(cfloor):
    assert cfloor.SelectorKey is selectors.SelectorKey
    ours, theirs = _script(cfloor), _script(selectors)
    # fds differ between the two runs (fresh socketpairs): compare with fds normalised
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs):
        assert type(got) is type(want)
        if isinstance(got, tuple) and len(got) == 4:
            assert (got[2], got[3]) == (want[2], want[3])
        elif isinstance(got, list):
            assert [(k[2], k[3], e) for k, e in got] == [(k[2], k[3], e) for k, e in want]
        else:
            assert got == want


def test_floor_keys_are_selector_keys(cfloor):
    a, b = socket.socketpair()
    with cfloor.EpollSelector() as sel:
        key = sel.register(a, cfloor.EVENT_READ, "x")
        assert type(key) is selectors.SelectorKey
        assert key == (a, a.fileno(), 1, "x") and key.data == "x" and hash(key) == hash(tuple(key))
        b.send(b"!")
        assert sel.select(0) == [(key, 1)]
    a.close()
    b.close()


def test_echo_client_loads_echo_servers(engine, echo_client):
    res = engine.run_echo(
        ["selectors", "selectors"], "callback", 2, 1, 0.3, 32, client_exe=echo_client
    )
    runs = res["runs"]
    assert len(runs) == 2 and all(len(r) == 1 for r in runs), runs
    for side in runs:
        for slot in side:
            assert slot["requests"] > 0 and slot["rps"] > 0, runs


def test_echo_client_output_and_bad_arguments(echo_client):
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
        start = time.time() + 0.3
        slots = json.dumps([[0, 0.2]])
        proc = subprocess.Popen(
            [echo_client, str(port), repr(start), slots, "8"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        conn, _ = srv.accept()
        with conn:
            served = 0
            conn.settimeout(5)
            while True:
                data = conn.recv(8)
                if not data:
                    break
                conn.sendall(data)
                served += 1
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    counts = json.loads(out)["counts"]
    assert len(counts) == 1 and counts[0] > 0, out
    assert served >= counts[0]
    for bad in (
        ["x", "0", "[[0, 1]]", "8"],  # port
        ["1", "soon", "[[0, 1]]", "8"],  # start
        ["1", "0", "[[3, 1]]", "8"],  # server index out of range
        ["1", "0", "[[0, 1]]", "0"],  # size
    ):
        proc = subprocess.run(
            [echo_client, *bad], capture_output=True, text=True, timeout=10, check=False
        )
        assert proc.returncode == 1 and "echo_client:" in proc.stderr, (bad, proc.stderr)
    proc = subprocess.run([echo_client], capture_output=True, text=True, timeout=10, check=False)
    assert proc.returncode == 2 and "usage" in proc.stderr
