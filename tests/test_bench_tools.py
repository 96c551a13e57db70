"""The benchmark engine (``benches/rsbench``) and its native tools stay correct: a reference
that returned the wrong thing would be "fast" for the wrong reason, and a report that mixed up
its columns would say the wrong thing.

- ``benches/compare.py``: lists and filters its cases, stops quietly on a closed stdout, and
  with ``--floor`` measures stdlib, rselectors and the C floor in one run (table, JSON, chart,
  and the README table rendered from that JSON).
- ``benches/floor`` (``_cfloor``, the C floor): the same operations on it and on the stdlib
  give the same results.
- ``benches/loadgen/echo_client.c`` (the native load client): it speaks the engine's client
  protocol, loads real echo servers (two or three, callback or asyncio), and rejects bad
  arguments.
- ``benches/exclusive_wakeups.py`` (the pre-fork herd): its counts add up and its table has
  every variant; the herd shows without the flag and not with it.

The native tools need Linux (epoll) and gcc (and Python headers for the floor); their tests
are skipped without them.
"""

import errno
import gc
import importlib
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import weakref

import pytest
from _support import (
    IS_STDLIB,
    needs_script_dir_on_path,
    needs_stdlib_sources,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHES = os.path.join(ROOT, "benches")
COMPARE = os.path.join(BENCHES, "compare.py")

pytestmark = pytest.mark.timeout(180)
native = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("gcc") is None,
    reason="the native tools need Linux (epoll) and gcc",
)
needs_rselectors = pytest.mark.skipif(IS_STDLIB, reason="measures rselectors itself")


@pytest.fixture(scope="module")
def rsbench():
    """The engine package, imported as the scripts in benches/ import it (benches/ on the
    path)."""
    sys.path.insert(0, BENCHES)
    try:
        yield importlib.import_module("rsbench")
    finally:
        sys.path.remove(BENCHES)


def compare(*args, timeout=120):
    return subprocess.run(
        [sys.executable, COMPARE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_engine_modules_import_no_cycle():
    """The engine's modules form layers: no module imports one that imports it back (at
    any depth, imports inside functions included)."""
    import ast

    pkg = os.path.join(BENCHES, "rsbench")
    graph = {}
    for name in os.listdir(pkg):
        if name.endswith(".py"):
            with open(os.path.join(pkg, name)) as f:
                tree = ast.parse(f.read())
            graph[name[:-3]] = {
                alias.name if node.module is None else node.module
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level == 1
                for alias in node.names
            }

    def cycle_from(start, path):
        for dep in sorted(graph.get(path[-1], ())):
            if dep == start:
                return [*path, dep]
            if dep not in path and dep in graph:
                found = cycle_from(start, [*path, dep])
                if found:
                    return found
        return None

    for module in sorted(graph):
        cycle = cycle_from(module, [module])
        assert cycle is None, " -> ".join(cycle)


@needs_script_dir_on_path
def test_list_filters_by_backend():
    proc = compare("--list", "--backends", "poll")
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert any("/poll/" in i for i in ids), ids
    assert not any("/epoll/" in i or "/select/" in i for i in ids), ids
    proc = compare("--backends", "nonsense")
    assert proc.returncode == 2 and "nonsense" in proc.stderr


@needs_script_dir_on_path
def test_list_into_a_closed_pipe_stops_quietly():
    """``compare.py --list | head``: the reader is gone before the list is written; the
    engine exits with status 1 and no traceback, as command-line tools do."""
    proc = subprocess.Popen(
        [sys.executable, COMPARE, "--list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader goes away before the child writes anything
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_echo_schedule_rotates_every_server(rsbench):
    from rsbench.echo import echo_schedule

    slots = echo_schedule(3, 2, 1.0, 0.5)
    assert [i for i, _ in slots] == [0, 1, 2, 0, 1, 2, 1, 2, 0]
    assert [end for _, end in slots] == [0.5, 1.0, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]
    assert [i for i, _ in echo_schedule(2, 3, 1.0, 0.5)] == [0, 1, 0, 1, 1, 0, 0, 1]


def _skip_without_python_headers():
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        pytest.skip("no Python headers")


def _floor_module(tmp_path_factory, contract):
    """The C floor (``_cfloor``, or its contract build ``_cfloor_contract``), built for this
    Python and imported; removed from ``sys.path`` and ``sys.modules`` afterwards."""
    _skip_without_python_headers()
    from rsbench.floor import build

    name = "_cfloor_contract" if contract else "_cfloor"
    out = build(str(tmp_path_factory.mktemp(name)), contract=contract)
    sys.path.insert(0, out)
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(out)
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def cfloor(rsbench, tmp_path_factory):
    yield from _floor_module(tmp_path_factory, contract=False)


@pytest.fixture(scope="module")
def cfloor_contract(rsbench, tmp_path_factory):
    yield from _floor_module(tmp_path_factory, contract=True)


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


def _ready(result):
    """select()'s result as (key tuple, events) pairs in fd order."""
    return sorted(((tuple(k), e) for k, e in result), key=lambda pair: pair[0][1])


#: the floor's selector classes, each measured against the stdlib's of the same name
FLOOR_CLASSES = ("EpollSelector", "PollSelector", "SelectSelector")


def _script(mod, cls_name):
    """One fixed sequence of calls; returns what a caller can observe (keys as tuples)."""
    out = []
    pairs = [socket.socketpair() for _ in range(4)]
    sel = getattr(mod, cls_name)()
    try:
        (a0, b0), (a1, _), (a2, _), (a3, b3) = pairs
        out.append(tuple(sel.register(a0, mod.EVENT_READ, "d0")))
        out.append(tuple(sel.register(a1.fileno(), mod.EVENT_WRITE)))
        out.append(tuple(sel.register(a2, mod.EVENT_READ | mod.EVENT_WRITE, 2)))
        out.append(tuple(sel.register(a3, mod.EVENT_READ, "d3")))
        b0.send(b"x")
        out.append(_ready(sel.select(0)))
        out.append(tuple(sel.modify(a0, mod.EVENT_READ | mod.EVENT_WRITE, "d0")))
        out.append(tuple(sel.modify(a1.fileno(), mod.EVENT_WRITE, "new data")))
        out.append(_ready(sel.select(0.01)))
        out.append(tuple(sel.get_key(a2)))
        out.append(tuple(sel.get_map().get(a1.fileno())))
        out.append(tuple(sel.get_map()[a0]))
        out.append(sel.get_map().get(12345, "missing"))
        out.append(len(sel.get_map()))
        # the first registration leaves: PollSelector's last pollfd (a3's) moves into its place
        out.append(tuple(sel.unregister(a0)))
        b3.send(b"y")
        out.append(_ready(sel.select(None)))
        out.append(tuple(sel.modify(a3, mod.EVENT_WRITE, "d3")))
        out.append(_ready(sel.select(0)))
        out.append(tuple(sel.unregister(a2)))
        for call in (lambda: sel.get_key(a2), lambda: sel.unregister(a2)):
            with pytest.raises(KeyError):
                call()
        with pytest.raises(KeyError):
            sel.register(a1.fileno(), mod.EVENT_READ)
        with pytest.raises(ValueError):
            sel.register(a2, 4)
        # the highest fd leaves: SelectSelector's max fd comes down to the next registered one
        out.append(tuple(sel.unregister(a3)))
        out.append(_ready(sel.select(-1)))
        out.append(tuple(sel.register(a0, mod.EVENT_READ)))
        out.append(_ready(sel.select(0)))
        a0.recv(1)
        out.append(_ready(sel.select(0)))
        out.append(len(sel.get_map()))
        # a registered fd closed behind the selector's back: poll reports POLLNVAL (as both
        # events, masked by the key's), epoll forgets it, select fails with EBADF
        c, d = socket.socketpair()
        pairs.append((c, d))
        sel.register(c.fileno(), mod.EVENT_READ, "gone")
        c.close()
        try:
            out.append(_ready(sel.select(0)))
        except OSError as e:
            out.append(errno.errorcode[e.errno])
    finally:
        sel.close()
        for a, b in pairs:
            a.close()
            b.close()
    return out


@native
@pytest.mark.parametrize("cls_name", FLOOR_CLASSES)
def test_floor_behaves_like_the_stdlib(cfloor, cls_name):
    assert cfloor.SelectorKey is selectors.SelectorKey
    assert cfloor.DefaultSelector is cfloor.EpollSelector
    ours, theirs = _script(cfloor, cls_name), _script(selectors, cls_name)
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


def _contract_extras(mod, cls_name):
    """What the stdlib's classes do beyond the selector calls: an instance attribute, a weak
    reference, and ``with`` closing through ``close`` (a subclass's, an instance's)."""
    cls = getattr(mod, cls_name)
    closed = []

    class Sub(cls):
        def close(self):
            closed.append("subclass")
            super().close()

    sel = cls()
    sel.note = "kept"
    ref = weakref.ref(sel)
    sel.close = lambda: closed.append("instance")
    with sel:
        pass
    with Sub():
        pass
    out = (sel.note, ref() is sel, closed)
    del sel
    gc.collect()
    return out + (ref() is None,)


@native
@pytest.mark.parametrize("cls_name", FLOOR_CLASSES)
def test_contract_floor_does_what_the_stdlib_classes_do(cfloor, cfloor_contract, cls_name):
    want = ("kept", True, ["instance", "subclass"], True)
    assert _contract_extras(selectors, cls_name) == want
    assert _contract_extras(cfloor_contract, cls_name) == want
    # and is the same selector otherwise
    ours, theirs = _script(cfloor_contract, cls_name), _script(selectors, cls_name)
    assert [type(x) for x in ours] == [type(x) for x in theirs]
    # the minimal floor leaves these out (what the contract build adds)
    with pytest.raises((AttributeError, TypeError)):
        _contract_extras(cfloor, cls_name)


@native
@pytest.mark.parametrize("cls_name", FLOOR_CLASSES)
def test_floor_keys_are_selector_keys(cfloor, cls_name):
    a, b = socket.socketpair()
    with getattr(cfloor, cls_name)() as sel:
        key = sel.register(a, cfloor.EVENT_READ, "x")
        assert type(key) is selectors.SelectorKey
        assert key == (a, a.fileno(), 1, "x") and key.data == "x" and hash(key) == hash(tuple(key))
        b.send(b"!")
        assert sel.select(0) == [(key, 1)]
    assert len(sel.get_map()) == 0  # closed: the keys are gone
    a.close()
    b.close()


def _woken_by_another_thread(mod, cls_name):
    """select(5.0) in a thread while this one registers 200 more sockets and then makes the
    first one readable; returns the checks' failures (empty if none)."""
    a, b = socket.socketpair()
    late = [socket.socketpair() for _ in range(200)]
    sel = getattr(mod, cls_name)()
    got = []
    try:
        key = sel.register(a, mod.EVENT_READ)
        waiter = threading.Thread(target=lambda: got.append(sel.select(5.0)))
        start = time.monotonic()
        waiter.start()
        time.sleep(0.05)
        for c, _ in late:
            sel.register(c, mod.EVENT_READ)
        b.send(b"!")
        waiter.join()
        elapsed = time.monotonic() - start
        failures = []
        if got != [[(key, mod.EVENT_READ)]] or elapsed > 2.5:
            failures.append(f"woke after {elapsed:.2f} s with {got!r}")
        if sel.select(0) != [(key, mod.EVENT_READ)] or len(sel.get_map()) != 201:
            failures.append("the registrations made meanwhile are not all there")
        return failures
    finally:
        sel.close()
        for c, d in [(a, b), *late]:
            c.close()
            d.close()


@native
@pytest.mark.parametrize("cls_name", FLOOR_CLASSES)
def test_floor_waits_without_the_gil(cfloor, cls_name):
    """A select() that may block lets other threads run: they register (many fds, so the
    floor's tables grow while the wait is under way) and wake it, as with the stdlib."""
    assert _woken_by_another_thread(selectors, cls_name) == []
    assert _woken_by_another_thread(cfloor, cls_name) == []


@native
def test_floor_select_refuses_fds_beyond_fd_setsize(cfloor):
    """SelectSelector: an fd select(2) cannot take is refused at register (the stdlib's
    exception, which it raises at select()), the selector unchanged."""
    from rsbench.common import FD_SETSIZE

    with cfloor.SelectSelector() as sel:
        with pytest.raises(ValueError, match="filedescriptor out of range in select"):
            sel.register(FD_SETSIZE, cfloor.EVENT_READ)
        assert len(sel.get_map()) == 0 and sel.select(0) == []
    with selectors.SelectSelector() as std:
        std.register(FD_SETSIZE, selectors.EVENT_READ)
        with pytest.raises(ValueError, match="filedescriptor out of range in select"):
            std.select(0)


@native
def test_echo_client_loads_echo_servers(rsbench, echo_client):
    from rsbench.echo import run_echo

    res = run_echo(["selectors", "selectors"], "callback", 2, 1, 0.3, 32, client_exe=echo_client)
    runs = res["runs"]
    assert len(runs) == 2 and all(len(r) == 1 for r in runs), runs
    for side in runs:
        for slot in side:
            assert slot["requests"] > 0 and slot["rps"] > 0, runs


@native
@needs_rselectors
def test_echo_client_loads_three_asyncio_servers(rsbench, echo_client):
    """asyncio_wakeup's echo case: three streams servers, one on rselectors.new_event_loop()."""
    from rsbench.echo import run_echo

    res = run_echo(
        ["rselectors", "rselectors", "selectors"],
        "asyncio-streams",
        2,
        1,
        0.3,
        32,
        client_exe=echo_client,
        loops=["new_event_loop", "selector", "selector"],
    )
    runs = res["runs"]
    assert len(runs) == 3 and all(len(r) == 1 for r in runs), runs
    assert all(slot["requests"] > 0 for side in runs for slot in side), runs


@native
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


def _floor_run(out, cases, target_ms, *extra):
    """One quick ``compare.py --floor`` run of ``cases``, 5 repeats of ``target_ms`` each, on
    CPU time (the kernel's runs, BARE system calls per call, are longer than the others'
    repeats, and on a busy machine wall time would count their preemptions). Returns
    ``(process, JSON document)``."""
    _skip_without_python_headers()
    proc = compare(
        "--floor",
        "--quick",
        "--clock",
        "cpu",
        "--no-progress",
        "--repeats",
        "5",
        "--target-ms",
        str(target_ms),
        "--cases",
        ",".join(cases),
        "--json",
        str(out / "run.json"),
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    with open(out / "run.json") as f:
        return proc, json.load(f)


@pytest.fixture(scope="module")
def three_way(tmp_path_factory):
    """One quick ``compare.py --floor`` run: two epoll cases and a poll case (the floor has
    every Linux backend's class). Returns ``(process, JSON document, chart path)``."""
    out = tmp_path_factory.mktemp("three_way")
    cases = ["select_ready/epoll/K=100/N=100", "get_key/epoll/obj=fd", "modify/poll/obj=fd"]
    proc, doc = _floor_run(out, cases, 0.1, "--png", str(out / "run.png"))
    return proc, doc, out / "run.png"


@native
@needs_rselectors
def test_floor_is_measured_in_the_same_run(three_way):
    proc, doc, png = three_way
    assert doc["impls"] == ["selectors", "rselectors", "_cfloor"] and doc["floor"] == "_cfloor"
    results = {r["id"]: r["result"] for r in doc["results"]}
    assert set(results) == {
        "select_ready/epoll/K=100/N=100",
        "get_key/epoll/obj=fd",
        "modify/poll/obj=fd",
    }
    # every case has all three columns, poll's too (the floor's PollSelector)
    for res in results.values():
        a, b, c = res["values"]
        assert a > 0 and b > 0 and c > 0, res
        assert len(res["samples"][2]) == 5, res  # interleaved: as many repeats as the others
        assert res["ratio"] == pytest.approx(b / a) and res["ratio_floor"] == pytest.approx(b / c)
    # The kernel's share, timed beside them: epoll_wait's bare cost for the ready case (below
    # the floor's, which makes the same call and builds the objects); no system call at all in
    # a lookup or in poll's modify.
    ready = results["select_ready/epoll/K=100/N=100"]
    assert 0 < ready["kernel"]["median"] < ready["values"][2], ready["kernel"]
    assert len(ready["kernel"]["stats"]) and ready["kernel_share"] == pytest.approx(
        ready["kernel"]["median"] / ready["values"][0]
    )
    for cid in ("get_key/epoll/obj=fd", "modify/poll/obj=fd"):
        assert results[cid]["kernel"]["median"] == 0 and results[cid]["kernel_share"] == 0
    header = next(line for line in proc.stdout.splitlines() if line.startswith("case "))
    assert " ".join(header.split()[4:]) == "A stdlib B rselectors C floor K kernel B/A B/C K/A note"
    row = next(line for line in proc.stdout.splitlines() if line.startswith("get_key "))
    res = results["get_key/epoll/obj=fd"]
    assert f"{res['ratio']:.2f}  {res['ratio_floor']:.2f}  0.00" in row, row
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "--png needs matplotlib" in proc.stderr and not png.exists()
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@native
@needs_script_dir_on_path
def test_make_close_times_a_selectors_own_part_of_a_life(tmp_path):
    """``make_close``: a selector made and closed (by ``close()``, by ``with``) on all three
    implementations; the kernel's share is epoll's create + close, none for poll."""
    ids = ["make_close/epoll/how=close", "make_close/epoll/how=with", "make_close/poll/how=with"]
    _, doc = _floor_run(tmp_path, ids, 1)
    results = {r["id"]: r["result"] for r in doc["results"]}
    assert set(results) == set(ids)
    for res in results.values():
        assert min(res["values"]) > 0, res
    # the kernel's share is part of the floor's time: its lowest sample below the floor's
    # (the lowest of five is the least disturbed by the machine; the floor adds ~5-20 %)
    for cid in ids[:2]:
        kernel = results[cid]["kernel"]["stats"]["min"]
        assert 0 < kernel < min(results[cid]["samples"][2]), results[cid]
    assert results["make_close/poll/how=with"]["kernel"]["median"] == 0


def _num(x):
    """A time as the README's table prints it."""
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


@native
@needs_rselectors
def test_readme_table_is_rendered_from_the_json(three_way, tmp_path):
    _, doc, _ = three_way
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run(
        [sys.executable, os.path.join(BENCHES, "readme_table.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "| case (EpollSelector unless named) | stdlib | rselectors | C floor "
        "| rselectors / stdlib | rselectors / floor | kernel / stdlib |"
    )
    res = next(r["result"] for r in doc["results"] if r["id"] == "get_key/epoll/obj=fd")
    a, b, c = (_num(x) for x in res["values"])
    row = next(line for line in lines if line.startswith("| `get_key`"))
    want = f"{a} / - ns | {b} / - ns | {c} / - ns | {res['ratio']:.2f} / - | "
    assert want + f"{res['ratio_floor']:.2f} / - | 0.00 / - |" in row, row
    # the PollSelector row's modify: the floor's time and B/C; the kernel's share is 0 (no
    # system call); its other groups did not run ("-")
    res = next(r["result"] for r in doc["results"] if r["id"] == "modify/poll/obj=fd")
    c = _num(res["values"][2])
    poll = next(line for line in lines if line.startswith("| PollSelector"))
    want = f"| - / {c} / - ns | - / {res['ratio']:.2f} / - | - / {res['ratio_floor']:.2f} / - "
    assert poll.endswith(want + "| - / 0.00 / - |"), poll


def test_readme_table_ranges_cover_every_run(rsbench):
    from rsbench.readme import markdown_table

    def run(a, b, pin):
        sides = [[{"rps": x, "server_cpu_us_per_req": cpu}] for x, cpu in ((a, 6.0), (b, 5.5))]
        echo = {"runs": sides, "clients": 10, "load_client": "native"}
        micro = {"values": [a / 1000, 50.0, 40.0], "ratio": 0.25, "ratio_floor": 1.25}
        micro["kernel_share"] = 20.0 / (a / 1000)
        return {
            "options": {"pin": pin},
            "results": [
                {
                    "id": "echo_callback/default",
                    "spec": {"kind": "echo", "case": "echo_callback"},
                    "result": echo,
                },
                {
                    "id": "modify/epoll/obj=fd",
                    "spec": {"kind": "micro", "case": "modify"},
                    "result": micro,
                },
            ],
        }

    table = markdown_table([run(100_000, 110_000, True), run(120_000, 126_000, True)])
    echo = next(line for line in table.splitlines() if line.startswith("| seed echo"))
    assert echo == (
        "| seed echo server, 10 native clients, `--pin`: req/s / server CPU per request "
        "| 100,000–120,000 / 6.0 µs | 110,000–126,000 / 5.5 µs |  | 1.050–1.100 / 0.92 |  |  |"
    )
    modify = next(line for line in table.splitlines() if line.startswith("| modify"))
    assert modify == (
        "| modify READ ↔ READ\\|WRITE (socket / int fd) | - / 100–120 ns | - / 50 ns "
        "| - / 40 ns | - / 0.25 | - / 1.25 | - / 0.17–0.20 |"
    )


def _line_of(path, text):
    """``path:N`` of the first line of ``path`` containing ``text``."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return f"{path}:{n}"
    raise AssertionError(f"{text!r} not in {path}")


@needs_stdlib_sources
def test_profile_classifies_samples_by_one_rule_for_every_impl(rsbench):
    """``echo_load.py profile``'s rule: a frame of the stdlib's selectors.py is the selector
    (its helpers charged to the method they serve); a native selector has no frame, so a
    sample at a line calling a selector method is the selector's; the rest is asyncio's
    ``_process_events``, the socket calls, or other."""
    import asyncio.base_events
    import asyncio.selector_events

    from rsbench.profile import classify, parse_raw, shares

    base, sel_events = asyncio.base_events.__file__, asyncio.selector_events.__file__
    run_once = f"BaseEventLoop._run_once ({_line_of(base, 'self._selector.select(timeout)')})"
    process = f"BaseSelectorEventLoop._process_events ({_line_of(sel_events, 'key.fileobj')})"
    recv = (
        f"_SelectorSocketTransport._read_ready__get_buffer ({_line_of(sel_events, '.recv_into(')})"
    )
    outer = f"BaseEventLoop.run_forever ({_line_of(base, 'self._run_once()')})"
    stdlib_select = f"EpollSelector.select ({selectors.__file__}:460)"
    stdlib_lookup = f"_BaseSelectorImpl._key_from_fd ({selectors.__file__}:275)"
    assert classify([outer, run_once]) == ("selector", "select")
    assert classify([outer, run_once, stdlib_select]) == ("selector", "select")
    assert classify([outer, run_once, stdlib_select, stdlib_lookup]) == ("selector", "select")
    assert classify([outer, process]) == ("process_events", None)
    assert classify([outer, recv]) == ("socket", None)
    assert classify([outer]) == ("other", None)

    raw = f"{outer};{run_once} 3\n{outer};{process} 1\n{outer} 4\n"
    res = shares(parse_raw(raw))
    assert res["samples"] == 8 and res["selector"] == 3 / 8 and res["process_events"] == 1 / 8
    assert res["methods"]["select"] == 3 / 8 and res["socket"] == 0.0


@native
@needs_rselectors
def test_profile_samples_each_server(rsbench):
    """A short ``echo_load.py profile`` run: a table row per implementation, each with
    samples taken in its server while the load ran."""
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(BENCHES, "echo_load.py"),
            "profile",
            "--kinds",
            "callback",
            "--rounds",
            "1",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[1]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert set(rows) == {"selectors", "rselectors"}, proc.stdout
    for row in rows.values():
        assert row[0] == "callback" and int(row[2]) > 0, proc.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="exclusive wake-ups are epoll's")
@needs_rselectors
def test_exclusive_wakeups_reports_every_variant(rsbench):
    """One small run of the pre-fork bench: every connection answered, the counts consistent,
    and the herd's kernel wake-ups (one per worker without the flag, about one with it)."""
    from rsbench import prefork

    for variant in prefork.VARIANTS:
        r = prefork.run(variant, 4, 60)
        assert r["answered"] == r["accepted"] == 60, (variant, r)
        assert r["wakeups"] == r["accepted"] + r["empty"], (variant, r)
        woken = r["switches"] / r["accepted"]
        if variant.endswith("exclusive"):
            assert woken < 2, (variant, woken)
        else:
            assert woken > 2, (variant, woken)
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(BENCHES, "exclusive_wakeups.py"),
            "--rounds",
            "1",
            "--connections",
            "40",
            "--workers",
            "2",
            "--modes",
            "sequential",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "# command: python benches/exclusive_wakeups.py --rounds 1" in out
    rows = [line.split()[:3] for line in out.splitlines() if line[:2].strip() == "2"]
    assert [" ".join(r[1:]) if r[2] == "exclusive" else r[1] for r in rows] == [
        "stdlib",
        "rselectors",
        "rselectors exclusive",
    ]
