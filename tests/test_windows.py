"""What code moving to ``import rselectors as selectors`` relies on under Windows, with sockets
only (winsock's ``select()`` takes nothing else).

This file runs on every platform: everything here holds on Linux too, for every selector
class, so CI (which has no Windows machine) runs the portable part; the checks that only
Windows' ``select()`` can show are marked and skip elsewhere, saying so. On Windows the rest
of the suite does not apply (it uses pipes, fork and POSIX signals): run this file there
(README "Windows").
"""

import asyncio
import errno
import selectors as stdlib
import socket
import sys
import threading
import time

import pytest
from _support import (
    ALL_CLASS_NAMES,
    EMPTY_SETS,
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    IS_STDLIB,
    TARGET,
    class_params,
    fixes_stdlib,
    stdlib_class,
    tcp_pair,
    windows_fixes_stdlib,
    wine_gap,
)

WINDOWS = sys.platform == "win32"


def only_windows(reason):
    """Skip elsewhere: ``reason`` says why only Windows shows it."""
    return pytest.mark.skipif(not WINDOWS, reason=reason)


@pytest.fixture
def pairs():
    """Factory of tcp_pair()s, all closed at teardown."""
    made = []

    def make():
        pair = tcp_pair()
        made.extend(pair)
        return pair

    yield make
    for s in made:
        s.close()


def test_the_stdlibs_classes_for_this_platform():
    """The selector classes are the stdlib's for this platform (Windows: SelectSelector
    alone, which is DefaultSelector); the package imports there."""
    ours = {name for name in ALL_CLASS_NAMES if hasattr(TARGET, name)}
    theirs = {name for name in ALL_CLASS_NAMES if hasattr(stdlib, name)}
    assert ours == theirs
    if WINDOWS:
        assert ours == {"SelectSelector"}
        assert TARGET.DefaultSelector is TARGET.SelectSelector


def test_readiness_of_loopback_sockets(sel, pairs):
    a, b = pairs()
    key_a = sel.register(a, EVENT_READ, "a")
    key_b = sel.register(b, EVENT_WRITE, "b")
    assert sel.select(5) == [(key_b, EVENT_WRITE)]
    b.send(b"ping")
    deadline = time.monotonic() + 5
    while (key_a, EVENT_READ) not in sel.select(1) and time.monotonic() < deadline:
        pass
    # Level-triggered: still readable, and both are reported by one select.
    assert sorted(sel.select(5), key=lambda r: r[0].data) == [
        (key_a, EVENT_READ),
        (key_b, EVENT_WRITE),
    ]
    assert a.recv(16) == b"ping"
    key_b = sel.modify(b, EVENT_READ, "b")
    key_a = sel.modify(a, EVENT_BOTH, "a")
    assert sel.select(5) == [(key_a, EVENT_WRITE)]
    assert sel.unregister(a) is key_a
    assert sel.select(0) == []
    assert list(sel.get_map()) == [b.fileno()]


def test_a_socket_readable_and_writable_is_one_result(sel, pairs):
    a, b = pairs()
    key = sel.register(a, EVENT_BOTH)
    b.send(b"x")
    deadline = time.monotonic() + 5
    ready = []
    while ready != [(key, EVENT_BOTH)] and time.monotonic() < deadline:
        ready = sel.select(1)
    assert ready == [(key, EVENT_BOTH)]


@windows_fixes_stdlib(EMPTY_SETS)
def test_an_empty_selector_sleeps_for_the_timeout(sel):
    """With nothing registered select(t) waits t (winsock's select() itself refuses empty
    sets with WSAEINVAL; the selector's own notifier is always in its set)."""
    start = time.monotonic()
    assert sel.select(0.05) == []
    assert time.monotonic() - start >= 0.05


@pytest.mark.parametrize("cls", class_params())
def test_a_failed_connect_is_reported_to_a_writer(cls):
    """A non-blocking connect that fails is reported as writable, its error pending, as on
    Unix. Windows' select() puts it in the except set, never the write set: the selector
    watches its writers there too, as the stdlib's does."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    # Nothing listens there now: the connect is refused.
    s = socket.socket()
    s.setblocking(False)
    with cls() as sel, s:
        assert s.connect_ex(("127.0.0.1", port)) in (
            errno.EINPROGRESS,
            errno.EWOULDBLOCK,
            getattr(errno, "WSAEWOULDBLOCK", errno.EWOULDBLOCK),
        )
        key = sel.register(s, EVENT_WRITE)
        assert sel.select(10) == [(key, EVENT_WRITE)]
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0


@pytest.mark.parametrize("cls", class_params())
def test_a_closed_registered_socket_fails_select_as_in_the_stdlib(cls, pairs):
    """Windows: OSError [WinError 10038] (WSAENOTSOCK); Linux select/poll: as their stdlib
    classes do (EBADF, or poll's POLLNVAL and epoll's silent removal: no error)."""
    ours, theirs = cls(), stdlib_class(cls)()
    a, _ = pairs()
    for sel in (ours, theirs):
        sel.register(a, EVENT_READ)
    a.close()  # both selectors exist: the number cannot be reused by them
    outcomes = []
    for sel in (ours, theirs):
        try:
            outcomes.append(("ok", [key.fd for key, _ in sel.select(0)]))
        except OSError as exc:
            outcomes.append(
                ("raise", type(exc), exc.errno, getattr(exc, "winerror", None), str(exc))
            )
        sel.unregister(a)  # found by identity: fileno() is -1 now
        sel.close()
    assert outcomes[0] == outcomes[1]
    if WINDOWS:
        assert outcomes[0][3] == 10038, outcomes[0]


@only_windows("Unix select() takes any fd: only Windows' refuses what is not a socket")
@wine_gap(
    "select() on a number that is a live handle but no socket fails with WSAEOPNOTSUPP "
    "(10045) when it is alone in the sets or after a socket, WSAENOTSOCK (10038) before one "
    "(Windows: WSAENOTSOCK); the stdlib's set holds the file alone, ours the notifier first"
)
def test_what_is_not_a_socket_fails_select_as_in_the_stdlib(tmp_path):
    """A file's handle is not a SOCKET: select() raises WinError 10038, as the stdlib's.
    (The handle, not the C runtime's fd number of the file: whether that small number
    happens to name some handle is luck.)"""
    import msvcrt

    with open(tmp_path / "f", "wb") as f:
        handle = msvcrt.get_osfhandle(f.fileno())
        outcomes = []
        for sel in (TARGET.SelectSelector(), stdlib.SelectSelector()):
            sel.register(handle, EVENT_READ)
            with pytest.raises(OSError) as info:
                sel.select(0)
            outcomes.append((type(info.value), info.value.winerror, str(info.value)))
            sel.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == 10038


@only_windows("Unix select() has an FD_SETSIZE bitmap (its limit: tests/test_fileobj.py)")
@fixes_stdlib("the stdlib's Windows select() takes at most 512 sockets")
def test_no_ceiling_on_the_number_of_sockets(pairs):
    """Beyond the 512 sockets of CPython's Windows FD_SETSIZE (the stdlib raises ValueError
    "too many file descriptors in select()"): the sets are sized by the registrations."""
    with TARGET.SelectSelector() as sel:
        made = [pairs() for _ in range(600)]
        for a, _ in made:
            sel.register(a, EVENT_READ)
        last_a, last_b = made[-1]
        last_b.send(b"x")
        deadline = time.monotonic() + 5
        ready = []
        while not ready and time.monotonic() < deadline:
            ready = sel.select(1)
        assert [key.fileobj for key, _ in ready] == [last_a]


@fixes_stdlib("OverflowError at register(), not at every later select()")
def test_fileobj_numbers(sel):
    """A socket's fileno() is a SOCKET on Windows (64-bit), an int fd elsewhere; numbers the
    stdlib's select() cannot take fail at register with its error."""
    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        sel.register(-1, EVENT_READ)
    with pytest.raises(OverflowError, match="Python int too large to convert to C int"):
        sel.register(2**40, EVENT_READ)
    assert not sel.get_map()


@pytest.mark.parametrize("stop", ["wakeup", "close"])
def test_another_thread_ends_a_blocked_select(sel, pairs, stop):
    if IS_STDLIB:
        pytest.skip("wakeup() is ours; the stdlib's close() from another thread hangs (gh-91433)")
    a, _ = pairs()
    sel.register(a, EVENT_READ)
    result = {}

    def wait():
        try:
            result["ready"] = sel.select(None if stop == "close" else 30)
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    waiter = threading.Thread(target=wait)
    start = time.monotonic()
    waiter.start()
    time.sleep(0.1)
    if stop == "wakeup":
        sel.wakeup()
    else:
        sel.close()
    waiter.join(10)
    assert not waiter.is_alive()
    assert result == {"ready": []}
    assert time.monotonic() - start < 10


def test_asyncio_streams_and_threads_on_the_default_loop():
    """rselectors.new_event_loop() over DefaultSelector: a TCP echo and a wake-up from a
    worker thread (call_soon_threadsafe through wakeup())."""
    if IS_STDLIB:
        pytest.skip("new_event_loop() is an rselectors extension")

    async def main():
        async def echo(reader, writer):
            writer.write(await reader.read(100))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        reply = await reader.read(100)
        writer.close()
        server.close()
        await server.wait_closed()
        from_thread = await asyncio.get_running_loop().run_in_executor(None, lambda: 42)
        return reply, from_thread

    loop = TARGET.new_event_loop()
    try:
        assert isinstance(loop._selector, TARGET.DefaultSelector)
        assert loop.run_until_complete(asyncio.wait_for(main(), 30)) == (b"hello", 42)
    finally:
        loop.close()
