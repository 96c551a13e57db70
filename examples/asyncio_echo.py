"""An asyncio echo server (streams) on rselectors' event loop.

    python examples/asyncio_echo.py                 # serve on localhost:8888 until Ctrl-C
    python examples/asyncio_echo.py --port 0        # any free port (printed)
    python examples/asyncio_echo.py --demo          # server + 20 clients, then exit

``rselectors.run(main(...))`` runs it as ``asyncio.run`` would, on ``rselectors.new_event_loop()``:
asyncio's ``SelectorEventLoop`` on ``rselectors.DefaultSelector()``, woken across threads by the
selector's native ``wakeup()``.
"""

import argparse
import asyncio
import signal

import rselectors


async def handle(reader, writer):
    peer = writer.get_extra_info("peername")
    while True:
        data = await reader.read(1000)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    if ARGS.verbose:
        print("closed", peer, flush=True)


async def client(host, port, i):
    reader, writer = await asyncio.open_connection(host, port)
    for j in range(10):
        msg = f"client {i} says {j}\n".encode()
        writer.write(msg)
        assert await reader.readline() == msg
    writer.close()
    await writer.wait_closed()
    return i


async def main(args):
    server = await asyncio.start_server(handle, args.host, args.port)
    host, port = server.sockets[0].getsockname()[:2]
    loop = asyncio.get_running_loop()
    print(
        f"serving on {host}:{port} with {type(loop).__name__} on {type(loop._selector).__name__}",
        flush=True,
    )
    async with server:
        if args.demo:
            # A thread pool round trip too: its result comes back through wakeup().
            await loop.run_in_executor(None, sum, [1, 2, 3])
            done = await asyncio.gather(*(client(host, port, i) for i in range(20)))
            print(f"demo: {len(done)} clients echoed 10 lines each", flush=True)
            return
        # Ctrl-C / SIGTERM: stop serving cleanly. (Signals reach the loop through asyncio's
        # self-pipe and signal.set_wakeup_fd, which rselectors' loop keeps.)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("shutting down", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--demo", action="store_true", help="run 20 clients against it, then exit")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.demo and args.port == 8888:
        args.port = 0
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    try:
        rselectors.run(main(ARGS))
    except KeyboardInterrupt:
        pass
