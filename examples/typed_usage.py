"""rselectors used as the stdlib module, fully typed: ``mypy --strict examples/typed_usage.py``.

Also runnable: ``python examples/typed_usage.py`` prints "ok".
"""

from __future__ import annotations

import asyncio
import selectors as stdlib_selectors
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

import rselectors as selectors

Handler = Callable[[socket.socket, int], None]


def serve_once(sel: stdlib_selectors.BaseSelector, listener: socket.socket) -> bytes:
    """Written against the stdlib's types; works with an rselectors selector."""
    received: list[bytes] = []

    def on_read(conn: socket.socket, mask: int) -> None:
        data = conn.recv(1000)
        if data:
            received.append(data)
            conn.send(data)
        sel.unregister(conn)
        conn.close()

    def on_accept(sock: socket.socket, mask: int) -> None:
        conn, _addr = sock.accept()
        conn.setblocking(False)
        sel.register(conn, selectors.EVENT_READ, on_read)

    sel.register(listener, selectors.EVENT_READ, on_accept)
    while not received:
        for key, mask in sel.select(timeout=5.0):
            callback: Handler = key.data
            fileobj = key.fileobj
            assert isinstance(fileobj, socket.socket)
            callback(fileobj, mask)
    sel.unregister(listener)
    return received[0]


def echo_round_trip() -> bytes:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port: int = listener.getsockname()[1]
    with selectors.DefaultSelector() as sel:

        def client() -> None:
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(b"hello")
                c.recv(1000)

        t = threading.Thread(target=client)
        t.start()
        data = serve_once(sel, listener)
        t.join()
    listener.close()
    return data


def keys_and_map() -> None:
    a, b = socket.socketpair()
    sel: selectors.BaseSelector = selectors.SelectSelector()  # on every platform
    key: selectors.SelectorKey = sel.register(a, selectors.EVENT_READ | selectors.EVENT_WRITE, "a")
    fd: int = key.fd
    events: int = key.events
    data: Any = key.data
    assert (fd, events, data) == (a.fileno(), 3, "a")
    key = sel.modify(a, selectors.EVENT_WRITE, data={"n": 1})
    mapping: Mapping[Any, selectors.SelectorKey] = sel.get_map()
    assert mapping[a] == key and len(mapping) == 1
    assert sel.get_key(a.fileno()) is key
    ready: list[tuple[selectors.SelectorKey, int]] = sel.select(0)
    assert ready == [(key, selectors.EVENT_WRITE)]
    assert sel.unregister(a) == key
    sel.close()
    a.close()
    b.close()


def wake_if_possible(sel: stdlib_selectors.BaseSelector) -> bool:
    """Typed against the stdlib's BaseSelector; narrows to use rselectors' wakeup()."""
    if isinstance(sel, selectors.WakeableSelector):
        sel.wakeup()
        return True
    return False


def wakeup_from_thread() -> None:
    sel = selectors.DefaultSelector()
    threading.Timer(0.01, sel.wakeup).start()
    assert sel.select(timeout=10) == []
    if sys.platform == "linux":
        epoll: selectors.EpollSelector = selectors.EpollSelector()
        assert epoll.fileno() >= 0
        epoll.close()
    sel.close()


async def fetch(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    await writer.drain()
    data = await reader.read(100)
    writer.close()
    await writer.wait_closed()
    return data


async def asyncio_echo() -> bytes:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    async with server:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        threading.Timer(0.01, loop.call_soon_threadsafe, (fut.set_result, 7)).start()
        assert await fut == 7
        return await fetch(port)


def run_asyncio() -> bytes:
    loop: asyncio.AbstractEventLoop = selectors.new_event_loop()
    try:
        return loop.run_until_complete(asyncio_echo())
    finally:
        loop.close()


def run_asyncio_with_run() -> bytes:
    data: bytes = selectors.run(asyncio_echo(), debug=False)
    return data


def main() -> int:
    assert echo_round_trip() == b"hello"
    keys_and_map()
    wakeup_from_thread()
    assert run_asyncio() == b"ping"
    assert run_asyncio_with_run() == b"ping"
    with selectors.DefaultSelector() as ours, stdlib_selectors.SelectSelector() as theirs:
        assert wake_if_possible(ours) and ours.select(timeout=10) == []
        assert not wake_if_possible(theirs)
    policy: asyncio.AbstractEventLoopPolicy = selectors.EventLoopPolicy()
    loop = policy.new_event_loop()
    assert isinstance(loop, selectors.SelectorEventLoop)
    loop.close()
    selectors.install()
    patched = stdlib_selectors.DefaultSelector()  # built by rselectors now
    assert type(patched).__module__ == "rselectors"
    patched.close()
    selectors.uninstall()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
