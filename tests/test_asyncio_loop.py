"""asyncio on rselectors: real servers and clients over loopback on ``rselectors.new_event_loop()``
(and on ``rselectors.SelectorEventLoop`` over every backend class).

Streams, protocols, datagrams, Unix sockets, ``sock_*`` methods, ``add_reader``/``add_writer``,
subprocess pipes, signals, ``call_soon_threadsafe`` wake-ups from other threads (which go
through the selector's ``wakeup()``), executors and timers (sub-millisecond sleeps are only
asserted never to end early).
"""

import asyncio
import json
import os
import selectors as stdlib_selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from _support import (
    IS_STDLIB,
    SLOWDOWN,
    TARGET,
    needs_posix_signals,
    needs_script_dir_on_path,
    needs_unix_sockets,
    popen_with_terminal_sigint,
)

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="rselectors' asyncio helpers (not in the stdlib)"),
    pytest.mark.timeout(60),
]

if not IS_STDLIB:
    import rselectors

    LOOP_KINDS = ["new_event_loop"] + [
        name
        for name in ("EpollSelector", "PollSelector", "SelectSelector")
        if hasattr(TARGET, name)
    ]
else:  # pragma: no cover - everything is skipped
    LOOP_KINDS = []


#: A selector event loop runs subprocesses on POSIX only (Windows': the proactor's).
needs_selector_loop_subprocesses = pytest.mark.skipif(
    sys.platform == "win32",
    reason="asyncio's SelectorEventLoop has no subprocesses on Windows (NotImplementedError)",
)


def make_loop(kind):
    if kind == "new_event_loop":
        return rselectors.new_event_loop()
    return rselectors.SelectorEventLoop(getattr(rselectors, kind)())


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request):
    return request.param


@pytest.fixture
def run(loop_kind):
    """``run(coro)`` runs ``coro`` to completion on a fresh loop of the kind under test and
    closes the loop the way ``asyncio.run`` does."""
    loops = []

    def runner(coro, timeout=30):
        loop = make_loop(loop_kind)
        loops.append(loop)
        asyncio.set_event_loop(loop)
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, timeout))
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    yield runner
    for loop in loops:
        assert loop.is_closed()


# -- the loop itself ------------------------------------------------------------------------


def test_new_event_loop_uses_default_selector_and_wakeup():
    loop = rselectors.new_event_loop()
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
        assert isinstance(loop, rselectors.SelectorEventLoop)
        assert type(loop._selector) is rselectors.DefaultSelector
        # call_soon_threadsafe() -> _write_to_self() is the native wakeup() itself.
        assert loop._write_to_self == loop._selector.wakeup
        # The self-pipe stays: add_signal_handler hands it to signal.set_wakeup_fd().
        assert loop._csock is not None and loop._ssock is not None
    finally:
        loop.close()
    loop._write_to_self()  # after close: harmless, like the stdlib's guarded write


def test_stdlib_selector_keeps_the_self_pipe():
    loop = rselectors.SelectorEventLoop(stdlib_selectors.DefaultSelector())
    try:
        assert "_write_to_self" not in vars(loop)
        assert loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"
    finally:
        loop.close()


def test_use_wakeup_false_keeps_the_self_pipe():
    class SelfPipeLoop(rselectors.SelectorEventLoop):
        use_wakeup = False

    loop = SelfPipeLoop()
    try:
        assert "_write_to_self" not in vars(loop)
        assert type(loop._selector) is rselectors.DefaultSelector
        fut = loop.create_future()
        threading.Timer(0.01, loop.call_soon_threadsafe, (fut.set_result, 1)).start()
        assert loop.run_until_complete(asyncio.wait_for(fut, 10)) == 1
    finally:
        loop.close()


async def _which_loop():
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    return type(loop), type(loop._selector)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_loop_factory():
    got = asyncio.run(_which_loop(), loop_factory=rselectors.new_event_loop)
    assert got == (rselectors.SelectorEventLoop, rselectors.DefaultSelector)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Runner is 3.11+")
def test_asyncio_runner_loop_factory():
    with asyncio.Runner(loop_factory=rselectors.new_event_loop) as runner:
        got = runner.run(_which_loop())
    assert got == (rselectors.SelectorEventLoop, rselectors.DefaultSelector)


# The Ctrl-C test's child: asyncio.Runner installs its SIGINT handler only over Python's
# default one, which a process that starts with SIGINT ignored never gets.
_RUNNER_CTRL_C = r"""
import asyncio, signal, sys
import rselectors

assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, signal.getsignal(signal.SIGINT)
cancelled = []

async def forever():
    print(type(asyncio.get_running_loop()).__name__, flush=True)
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        cancelled.append(True)
        raise

with asyncio.Runner(loop_factory=rselectors.new_event_loop) as runner:
    try:
        runner.run(forever())
    except KeyboardInterrupt:
        print("KeyboardInterrupt", cancelled, flush=True)
"""


@needs_posix_signals
@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Runner is 3.11+")
def test_runner_ctrl_c_interrupts_an_idle_loop():
    """asyncio.Runner's SIGINT handler wakes the loop with call_soon_threadsafe (-> wakeup())
    from inside a signal handler; the main task is cancelled and KeyboardInterrupt raised.
    Ctrl-C comes from outside, to a child started with SIGINT's default disposition (so
    this runs even where the test run itself ignores SIGINT, e.g. in the background)."""
    proc = popen_with_terminal_sigint(
        [sys.executable, "-c", _RUNNER_CTRL_C],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()  # then the loop is idle in select()
        assert first == "SelectorEventLoop\n", (first, proc.communicate(timeout=20))
        time.sleep(0.05)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline()
        elapsed = time.monotonic() - t0
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (line, proc.returncode) == ("KeyboardInterrupt [True]\n", 0), (line, out, err)
    assert elapsed < 5, elapsed


def test_event_loop_policy():
    policy = rselectors.EventLoopPolicy()
    assert isinstance(policy, asyncio.DefaultEventLoopPolicy)
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(policy)
    try:
        got = asyncio.run(_which_loop())
        loop = asyncio.new_event_loop()
        assert type(loop) is rselectors.SelectorEventLoop
        loop.close()
    finally:
        asyncio.set_event_loop_policy(old)
    assert got == (rselectors.SelectorEventLoop, rselectors.DefaultSelector)


# -- streams and protocols ------------------------------------------------------------------


async def _stream_echo_server():
    async def handle(reader, writer):
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_streams_echo_many_clients(run):
    async def client(port, i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out = []
        for j in range(20):
            msg = f"client {i} message {j}\n".encode()
            writer.write(msg)
            out.append(await reader.readline())
            assert out[-1] == msg
        writer.close()
        await writer.wait_closed()
        return len(out)

    async def main():
        server = await _stream_echo_server()
        port = server.sockets[0].getsockname()[1]
        async with server:
            counts = await asyncio.gather(*(client(port, i) for i in range(50)))
        return counts

    assert run(main()) == [20] * 50


def test_streams_large_payload_backpressure(run):
    """4 MiB each way: the transports hit EAGAIN, so add_writer/remove_writer get exercised."""
    payload = os.urandom(1 << 22)

    async def main():
        server = await _stream_echo_server()
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)

            async def send():
                writer.write(payload)
                await writer.drain()
                writer.write_eof()

            sender = asyncio.ensure_future(send())
            got = await reader.read(-1)
            await sender
            writer.close()
            await writer.wait_closed()
            return got

    assert run(main()) == payload


def test_protocol_server_and_client(run):
    class Upper(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data.upper())
            if data.endswith(b"!"):
                self.transport.close()

    class Client(asyncio.Protocol):
        def __init__(self, done):
            self.done, self.buf = done, b""

        def connection_made(self, transport):
            transport.write(b"hello protocols!")

        def data_received(self, data):
            self.buf += data

        def connection_lost(self, exc):
            self.done.set_result(self.buf)

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Upper, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        done = loop.create_future()
        transport, _ = await loop.create_connection(lambda: Client(done), "127.0.0.1", port)
        result = await done
        transport.close()
        server.close()
        await server.wait_closed()
        return result

    assert run(main()) == b"HELLO PROTOCOLS!"


def test_datagram_endpoints(run):
    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, addr):
            self.transport.sendto(data[::-1], addr)

    class Client(asyncio.DatagramProtocol):
        def __init__(self, got):
            self.got = got

        def datagram_received(self, data, addr):
            self.got.put_nowait(data)

    async def main():
        loop = asyncio.get_running_loop()
        server, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        addr = server.get_extra_info("sockname")
        got = asyncio.Queue()
        client, _ = await loop.create_datagram_endpoint(lambda: Client(got), remote_addr=addr)
        results = []
        for i in range(10):
            client.sendto(b"datagram %d" % i)
            results.append(await asyncio.wait_for(got.get(), 10))
        client.close()
        server.close()
        return results

    assert run(main()) == [(b"datagram %d" % i)[::-1] for i in range(10)]


@needs_unix_sockets
def test_unix_stream_server(run):
    async def main(path):
        async def handle(reader, writer):
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(handle, path)
        async with server:
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(b"over a unix socket\n")
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return line

    with tempfile.TemporaryDirectory() as d:
        assert run(main(os.path.join(d, "s"))) == b"OVER A UNIX SOCKET\n"


# -- sock_* methods, add_reader / add_writer -----------------------------------------------


def test_sock_methods(run):
    async def main():
        loop = asyncio.get_running_loop()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        client = socket.socket()
        client.setblocking(False)
        try:
            accept = asyncio.ensure_future(loop.sock_accept(listener))
            await loop.sock_connect(client, listener.getsockname())
            conn, _ = await accept
            conn.setblocking(False)
            big = os.urandom(1 << 21)
            sending = asyncio.ensure_future(loop.sock_sendall(client, big))
            received = bytearray()
            buf = bytearray(65536)
            while len(received) < len(big):
                n = await loop.sock_recv_into(conn, buf)
                assert n > 0
                received += buf[:n]
            await sending
            await loop.sock_sendall(conn, b"reply")
            reply = await loop.sock_recv(client, 100)
            conn.close()
            return bytes(received) == big, reply
        finally:
            client.close()
            listener.close()

    assert run(main()) == (True, b"reply")


def test_sock_sendfile(run):
    data = os.urandom(300_000)

    async def main(f):
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        try:

            async def receive():
                got = bytearray()
                while len(got) < len(data):
                    chunk = await loop.sock_recv(b, 65536)
                    assert chunk
                    got += chunk
                return bytes(got)

            receiver = asyncio.ensure_future(receive())
            sent = await loop.sock_sendfile(a, f)
            return sent, await receiver
        finally:
            a.close()
            b.close()

    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        f.seek(0)
        assert run(main(f)) == (len(data), data)


def test_add_reader_add_writer(run):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        try:
            readable = loop.create_future()
            loop.add_reader(b, lambda: readable.done() or readable.set_result(b.recv(100)))
            a.send(b"ping")
            assert await readable == b"ping"
            assert loop.remove_reader(b) is True
            assert loop.remove_reader(b) is False

            # Fill a's send buffer, then wait for add_writer to report it writable again.
            try:
                while True:
                    a.send(b"x" * 65536)
            except BlockingIOError:
                pass
            writable = loop.create_future()
            loop.add_writer(a, lambda: writable.done() or writable.set_result(True))
            await asyncio.sleep(0.01)
            assert not writable.done()
            drained = 0
            while not writable.done():
                try:
                    drained += len(b.recv(1 << 20))
                except BlockingIOError:
                    await asyncio.sleep(0.001)
            assert loop.remove_writer(a) is True
            # reader and writer on one fd at once (a single registration with both events)
            both = []
            loop.add_reader(a, both.append, "r")
            loop.add_writer(a, both.append, "w")
            b.send(b"!")
            while "r" not in both or "w" not in both:
                await asyncio.sleep(0.001)
            loop.remove_reader(a)
            loop.remove_writer(a)
            return drained > 0
        finally:
            a.close()
            b.close()

    assert run(main()) is True


# -- subprocesses --------------------------------------------------------------------------


@needs_selector_loop_subprocesses
def test_subprocess_pipes(run):
    script = (
        "import sys\n"
        "data = sys.stdin.buffer.read()\n"
        "sys.stdout.buffer.write(data[::-1])\n"
        "sys.stderr.write('err %d' % len(data))\n"
        "sys.exit(3)\n"
    )
    payload = os.urandom(200_000)

    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate(payload)
        return out, err, proc.returncode

    out, err, code = run(main())
    assert out == payload[::-1]
    assert err == b"err %d" % len(payload)
    assert code == 3


@needs_selector_loop_subprocesses
def test_subprocess_shell_and_streams(run):
    async def main():
        proc = await asyncio.create_subprocess_shell(
            "for i in 1 2 3; do echo line $i; done", stdout=subprocess.PIPE
        )
        lines = [line async for line in proc.stdout]
        return lines, await proc.wait()

    assert run(main()) == ([b"line 1\n", b"line 2\n", b"line 3\n"], 0)


@needs_selector_loop_subprocesses
def test_many_subprocesses(run):
    async def one(i):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", f"print({i} * 2)", stdout=subprocess.PIPE
        )
        out, _ = await proc.communicate()
        return int(out)

    async def main():
        return await asyncio.gather(*(one(i) for i in range(8)))

    assert run(main()) == [i * 2 for i in range(8)]


# -- cross-thread wake-ups ------------------------------------------------------------------


def test_call_soon_threadsafe_wakes_an_idle_loop(run):
    """The loop blocks in select() with no timer at all; only the other thread's
    call_soon_threadsafe (-> wakeup()) can wake it."""

    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        waits = []
        for _ in range(20):
            fut = loop.create_future()
            timer = threading.Timer(
                0.02, loop.call_soon_threadsafe, (fut.set_result, time.monotonic)
            )
            # t0 before start(): the new thread may hold the GIL for a while first.
            t0 = time.monotonic()
            timer.start()
            clock = await fut
            waits.append(clock() - t0)
            timer.join()
        return waits

    waits = run(main())
    assert all(0.015 <= w < 5 for w in waits), waits


def test_call_soon_threadsafe_from_many_threads(run):
    threads, per_thread = 8, 2000

    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        count = [0]
        total = threads * per_thread

        def tick():
            count[0] += 1
            if count[0] == total:
                done.set_result(count[0])

        def produce():
            for _ in range(per_thread):
                loop.call_soon_threadsafe(tick)

        workers = [threading.Thread(target=produce) for _ in range(threads)]
        for w in workers:
            w.start()
        result = await done
        for w in workers:
            w.join()
        return result

    assert run(main()) == threads * per_thread


def test_call_soon_threadsafe_order_from_one_thread(run):
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        done = loop.create_future()

        def produce():
            for i in range(1000):
                loop.call_soon_threadsafe(seen.append, i)
            loop.call_soon_threadsafe(done.set_result, None)

        threading.Thread(target=produce).start()
        await done
        return seen

    assert run(main()) == list(range(1000))


def test_executor_to_thread_and_run_coroutine_threadsafe(run):
    async def main():
        loop = asyncio.get_running_loop()
        results = [await loop.run_in_executor(None, pow, 2, i) for i in range(50)]
        results.append(await asyncio.to_thread(sum, [1, 2, 3]))

        async def coro(x):
            await asyncio.sleep(0.001)
            return x * 10

        def from_thread():
            return [asyncio.run_coroutine_threadsafe(coro(i), loop).result(10) for i in range(5)]

        results.append(await asyncio.to_thread(from_thread))
        return results

    results = run(main())
    assert results[:50] == [2**i for i in range(50)]
    assert results[50:] == [6, [0, 10, 20, 30, 40]]


def test_call_soon_threadsafe_after_close_raises():
    loop = rselectors.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon_threadsafe(print)


@needs_posix_signals
@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals: main thread"
)
def test_add_signal_handler_still_works(run):
    """Signals still reach the loop through the self-pipe (signal.set_wakeup_fd), while the
    loop is idle in select() with nothing else to wake it."""

    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "SIGUSR1")
        try:
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
            return await got
        finally:
            assert loop.remove_signal_handler(signal.SIGUSR1)

    assert run(main()) == "SIGUSR1"


# -- timers ---------------------------------------------------------------------------------


def test_timers_fire_in_order(run):
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        done = loop.create_future()
        for delay in (0.03, 0.001, 0.02, 0.0005, 0.01):
            loop.call_later(delay, fired.append, delay)
        loop.call_later(0.05, done.set_result, None)
        handle = loop.call_later(0.015, fired.append, "cancelled")
        handle.cancel()
        await done
        return fired

    assert run(main()) == [0.0005, 0.001, 0.01, 0.02, 0.03]


@pytest.mark.parametrize("delay", [0.0001, 0.00025, 0.0005, 0.001, 0.0025])
def test_sleep_is_never_early(run, delay):
    """Sub-millisecond asyncio.sleep: asserted only never to end early (asyncio itself may run
    a timer up to its clock resolution before its deadline)."""
    resolution = time.get_clock_info("monotonic").resolution

    async def main():
        loop = asyncio.get_running_loop()
        elapsed = []
        for _ in range(30):
            t0 = loop.time()
            await asyncio.sleep(delay)
            elapsed.append(loop.time() - t0)
        return elapsed

    elapsed = run(main())
    assert min(elapsed) >= delay - resolution, (delay, min(elapsed))


def test_wait_for_timeout(run):
    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(loop.create_future(), 0.005)
        return loop.time() - t0

    assert run(main()) >= 0.005 - time.get_clock_info("monotonic").resolution


# -- the wake-up benchmark still runs -------------------------------------------------------


@needs_script_dir_on_path
def test_wakeup_benchmark_smoke(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(
                os.path.dirname(os.path.dirname(__file__)), "benches", "asyncio_wakeup.py"
            ),
            "--quick",
            "--cases",
            "latency,pingpong,inloop",
            "--samples",
            "20",
            "--no-progress",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wakeup/selfpipe" in proc.stdout
    assert out.exists()


# -- CPython's own asyncio tests on this loop class -----------------------------------------

CPYTHON_ON_OUR_LOOP = """
import json, sys, unittest
import rselectors
sys.modules["selectors"] = rselectors  # asyncio and the tests see rselectors as selectors
import asyncio, asyncio.unix_events
from rselectors import SelectorEventLoop as Ours
# Every SelectorEventLoop asyncio or the tests create is ours (wakeup() wake-ups).
for mod in (asyncio, asyncio.unix_events):
    for name in ("SelectorEventLoop", "EventLoop"):  # EventLoop: the 3.13+ alias
        if hasattr(mod, name):
            setattr(mod, name, Ours)
asyncio.unix_events._UnixDefaultEventLoopPolicy._loop_factory = Ours
made = []
_init = Ours.__init__
def __init__(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    made.append("_write_to_self" in vars(self))
Ours.__init__ = __init__
suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
result = unittest.TextTestRunner(verbosity=0).run(suite)
print("RESULT " + json.dumps({
    "ran": result.testsRun, "problems": len(result.failures) + len(result.errors),
    "loops": len(made), "wakeup_loops": sum(made),
}))
"""


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="swaps the loop class in asyncio.unix_events (Unix only); Windows runs CPython's "
    "test_selectors instead (tests/test_cpython_suites.py)",
)
@pytest.mark.timeout(600 * SLOWDOWN)
def test_cpython_asyncio_suite_on_our_loop():
    """CPython's test_events, test_runners, test_unix_events, test_threads and test_subprocess
    with asyncio's SelectorEventLoop replaced by ours, so every loop they build wakes up
    through wakeup(). (The whole test.test_asyncio passes the same way.)"""
    try:
        import test.test_asyncio  # noqa: F401
    except ImportError:
        pytest.skip("this Python has no test.test_asyncio package")
    modules = [
        f"test.test_asyncio.{m}"
        for m in (
            "test_events",
            "test_runners",
            "test_unix_events",
            "test_threads",
            "test_subprocess",
        )
    ]
    proc = subprocess.run(
        [sys.executable, "-c", CPYTHON_ON_OUR_LOOP, *modules],
        capture_output=True,
        text=True,
        timeout=540 * SLOWDOWN,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["problems"] == 0 and proc.returncode == 0, proc.stderr[-8000:]
    assert result["ran"] > 300, result
    assert result["loops"] > 100 and result["wakeup_loops"] == result["loops"], result
