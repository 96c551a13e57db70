"""Smoke test of an installed rselectors wheel, run as a program by the interpreter of a fresh
venv the wheel was installed into (tests/test_wheels.py, scripts/release), from an empty
directory with ``-I`` so nothing from a checkout can be imported. Prints ``SMOKE OK
<version> <python>`` and exits 0 when every check passed.

Checks: the package comes from the venv and has its compiled extension; register / select /
modify / unregister / wakeup on every selector class; an asyncio round trip on rselectors'
loop; ``install()``; ``python -m rselectors info --json``.
"""

import asyncio
import glob
import json
import os
import selectors as std
import socket
import subprocess
import sys
import threading

import rselectors

here = os.path.dirname(rselectors.__file__)
assert here.startswith(sys.prefix), (here, sys.prefix)  # the wheel, not a checkout
ext = ("so", "pyd")  # the compiled extension (.pyd on Windows)
assert any(glob.glob(os.path.join(here, f"_rselectors.*{e}")) for e in ext), os.listdir(here)

# register / select / modify / unregister on every class, and DefaultSelector
classes = [
    getattr(rselectors, n)
    for n in ("EpollSelector", "KqueueSelector", "PollSelector", "SelectSelector")
    if hasattr(rselectors, n)
]
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
    a.close()
    b.close()


async def main():
    """An asyncio streams round trip, a thread-safe callback and an executor call."""

    async def handle(r, w):
        w.write((await r.readline()).upper())
        await w.drain()
        w.close()

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

# install(): asyncio's default loop gets our selector (Windows: its selector loop; the default
# loop there is the proactor, which has no selector)
rselectors.install()
loop = asyncio.SelectorEventLoop() if sys.platform == "win32" else asyncio.new_event_loop()
assert type(loop._selector) is rselectors.DefaultSelector
loop.close()
rselectors.uninstall()

info = json.loads(
    subprocess.run(
        [sys.executable, "-m", "rselectors", "info", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
)
assert info["default"] == rselectors.DefaultSelector.__name__
print("SMOKE OK", rselectors.__version__, sys.version.split()[0])
