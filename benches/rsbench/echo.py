"""End to end: echo servers and load clients, each in its own process.

Servers: the stdlib documentation's callback echo server (``rselectors._echo``, the code of
``python -m rselectors echo``: its server process imports rselectors for that code, whatever
implementation it serves on; the selector is the implementation's), an ``asyncio.Protocol``
echo server and an asyncio streams echo server. Each prints ``PORT n`` when it is ready.
Load clients play blocking ping-pong; all of them connect to every server, and switch
servers together at wall-clock slot boundaries, so every side sees the same machine.
"""

import json
import os
import select
import signal
import socket
import subprocess
import time

from .common import import_impl, rotations, worker_cmd
from .sampler import PROFILE_ENV, install_sampler

SERVER_KINDS = ("callback", "asyncio-protocol", "asyncio-streams")

#: how an asyncio server gets its loop: ``asyncio.SelectorEventLoop`` on the implementation's
#: selector, or the implementation's own ``new_event_loop()`` (rselectors': native wake-ups)
LOOPS = ("selector", "new_event_loop")


def serve_callback(mod, port, selector):
    """The documentation's echo server on ``mod``'s ``selector`` class, without its prints."""
    from rselectors._echo import listen, serve_forever

    sel = getattr(mod, selector)()
    sock = listen(sel, "127.0.0.1", port)
    print("PORT", sock.getsockname()[1], flush=True)
    serve_forever(sel)


async def echo_stream(reader, writer):
    """The asyncio streams echo handler: ``read(1000)``, ``write``, ``drain`` until EOF."""
    while True:
        data = await reader.read(1000)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


def serve_asyncio(mod, port, selector, kind, loop="selector"):
    """asyncio echo server (Protocol- or streams-based) on a loop made as ``loop`` says."""
    import asyncio

    class EchoProtocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    async def main():
        loop = asyncio.get_running_loop()
        if kind == "asyncio-protocol":
            server = await loop.create_server(EchoProtocol, "127.0.0.1", port)
        else:
            server = await asyncio.start_server(echo_stream, "127.0.0.1", port)
        print("PORT", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()  # forever; the driver kills us

    if loop == "new_event_loop":
        event_loop = mod.new_event_loop()
    else:
        event_loop = asyncio.SelectorEventLoop(selector=getattr(mod, selector)())
    asyncio.set_event_loop(event_loop)
    event_loop.run_until_complete(main())


def _watchdog(max_seconds):
    """Exit the server when its parent is gone or after ``max_seconds`` (never run forever)."""
    import threading

    ppid = os.getppid()
    deadline = time.monotonic() + max_seconds

    def watch():
        while os.getppid() == ppid and time.monotonic() < deadline:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="bench-watchdog", daemon=True).start()


def serve(impl, kind, port, selector="DefaultSelector", max_seconds=3600.0, loop="selector"):
    """Run an echo server of ``kind`` on ``impl`` until killed (at most ``max_seconds``)."""
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    _watchdog(max_seconds)
    sampler = os.environ.get(PROFILE_ENV)
    if sampler:
        path, rate = sampler.rsplit(",", 1)
        install_sampler(path, float(rate))
    mod = import_impl(impl)
    if kind == "callback":
        serve_callback(mod, port, selector)
    else:
        serve_asyncio(mod, port, selector, kind, loop)


def load_client(ports, start, slots, size):
    """Blocking ping-pong load client: send ``size`` bytes, wait for the echo, repeat.

    Connects to every server in ``ports`` first, then waits for the wall-clock ``start`` so
    that all clients load the same server during the same window. ``slots`` is a list of
    ``[server_index, end_offset_s]``: during slot ``i`` (until ``start + end_offset``) the
    client talks only to server ``server_index``. Prints ``{"counts": [per slot]}`` as JSON.
    """
    socks = []
    for port in ports:
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    msg = b"x" * size
    delay = start - time.time()
    if delay > 0:
        time.sleep(delay)
    counts = []
    now = time.time
    try:
        for index, end_offset in slots:
            send, recv = socks[index].sendall, socks[index].recv
            end = start + end_offset
            count = 0
            while now() < end:
                send(msg)
                got = 0
                while got < size:
                    chunk = recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    got += len(chunk)
                count += 1
            counts.append(count)
    finally:
        for s in socks:
            s.close()
    print(json.dumps({"counts": counts}), flush=True)
    return 0


def echo_schedule(servers, rounds, slot, warmup):
    """Slots ``[server_index, end_offset]``: a warm-up slot per server, then ``rounds`` rounds
    of one slot per server, each round's order rotated (A B, B A, ...; A B C, B C A, ...)."""
    order = list(range(servers))
    for r in rotations(list(range(servers)), rounds):
        order += r
    out, t = [], 0.0
    for i, index in enumerate(order):
        t += warmup if i < servers else slot
        out.append([index, round(t, 6)])
    return out


def run_load(ports, clients, slots, size, client_exe=None):
    """Start ``clients`` load processes on ``ports``; return ``(start, procs)``.

    ``client_exe``: an executable taking the same arguments as the ``client`` worker (e.g.
    ``benches/loadgen/echo_client.c`` compiled), used instead of the Python client.
    """
    start = time.time() + 0.5 + 0.1 * clients
    args = [",".join(map(str, ports)), repr(start), json.dumps(slots), str(size)]
    procs = []
    try:
        for _ in range(clients):
            cmd = [client_exe, *args] if client_exe else worker_cmd("client", *args)
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    except BaseException:
        for p in procs:
            _kill(p)
        raise
    return start, procs


def collect_load(procs, n_slots, timeout=60):
    """Wait for the load processes; return the request count of every slot (all clients)."""
    totals = [0] * n_slots
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            msg = err.decode(errors="replace").strip().splitlines()
            raise RuntimeError("load client failed: " + (msg[-1] if msg else "?"))
        counts = json.loads(out.decode().strip().splitlines()[-1])["counts"]
        totals = [a + b for a, b in zip(totals, counts)]
    return totals


def load_only(port, clients, duration, size, client_exe=None):
    """Load an already running echo server on ``port``; return requests per second."""
    slots = [[0, duration]]
    _start, procs = run_load([port], clients, slots, size, client_exe)
    try:
        return collect_load(procs, 1, timeout=duration + 60)[0] / duration
    finally:
        for p in procs:
            _kill(p)


def proc_cpu_seconds(pid):
    """utime + stime of a process in seconds (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _kill(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_server(
    impl, kind, selector="DefaultSelector", port=0, timeout=15.0, max_seconds=600, loop="selector"
):
    """Start a server process; return ``(proc, port)`` once it printed its port."""
    proc = subprocess.Popen(
        worker_cmd("server", impl, kind, port, selector, max_seconds, loop),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.1)
        if r:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    if not line.startswith(b"PORT "):
        _kill(proc)
        err = proc.stderr.read().decode(errors="replace").strip().splitlines()
        raise RuntimeError("server did not start: " + (err[-1] if err else repr(line)))
    return proc, int(line.split()[1])


def run_echo(
    impls,
    kind,
    clients,
    rounds,
    slot,
    size,
    selector="DefaultSelector",
    pin=False,
    client_exe=None,
    loops=None,
):
    """Echo servers of ``kind`` on every impl, loaded in turn by ``clients`` processes.

    All servers and clients stay up for the whole measurement; the clients switch servers at
    slot boundaries (see :func:`echo_schedule`), so every side sees the same machine
    conditions. ``loops``: one of ``LOOPS`` per impl, for the asyncio kinds (default
    "selector"). ``client_exe``: see :func:`run_load`. Returns
    ``{"runs": [[{"rps", "server_cpu_us_per_req", ...} per slot] per impl]}``.
    """
    procs, servers = [], []
    try:
        ports = []
        lifetime = 120 + len(impls) * (rounds + 1) * slot
        for impl, loop in zip(impls, loops or ["selector"] * len(impls)):
            proc, port = start_server(impl, kind, selector, max_seconds=lifetime, loop=loop)
            servers.append(proc)
            ports.append(port)
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        pin = pin and len(cpus) >= 2
        if pin:
            for proc in servers:
                os.sched_setaffinity(proc.pid, {cpus[0]})
        warmup = min(1.0, max(0.2, slot / 2))
        slots = echo_schedule(len(impls), rounds, slot, warmup)
        start, procs = run_load(ports, clients, slots, size, client_exe)
        if pin:
            for p in procs:
                os.sched_setaffinity(p.pid, set(cpus[1:]))
        # server CPU time at every slot boundary
        cpu = []
        for t in [0.0] + [end for _, end in slots]:
            time.sleep(max(0.0, start + t - time.time()))
            cpu.append([proc_cpu_seconds(proc.pid) for proc in servers])
        totals = collect_load(procs, len(slots))
        runs = [[] for _ in impls]
        prev_end = 0.0
        for i, (index, end) in enumerate(slots):
            length, prev_end = end - prev_end, end
            if i < len(impls):  # warm-up slots
                continue
            res = {"requests": totals[i], "rps": totals[i] / length}
            c0, c1 = cpu[i][index], cpu[i + 1][index]
            if c0 is not None and c1 is not None and totals[i]:
                res["server_cpu_us_per_req"] = (c1 - c0) * 1e6 / totals[i]
                res["server_cpu_util"] = (c1 - c0) / length
            runs[index].append(res)
        return {"runs": runs}
    finally:
        for p in procs:
            _kill(p)
        for proc in servers:
            _kill(proc)
            proc.stdout.close()
            proc.stderr.close()
