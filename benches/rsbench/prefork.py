"""A pre-fork accept loop: ``N`` forked workers, each blocked in ``select()`` on its own
selector over one shared listening socket, and a client that opens connections to it.

Each worker registers the listening socket for ``EVENT_READ`` (with ``exclusive=True`` for an
exclusive variant) and a stop pipe, then loops: ``select()``; a result for the listening
socket is one **wake-up** seen by the worker; it tries one non-blocking ``accept()`` (a
gunicorn sync worker's step): a connection is answered with one byte and closed, ``EAGAIN``
is an **empty wake-up** (another worker took it: the thundering herd). The kernel's own
wake-ups are counted too, as the worker's voluntary context switches: epoll sends a woken
waiter that finds nothing back to sleep inside the kernel, so most of a herd never reaches
user space, but each of those wake-ups costs a context switch and CPU time. With ``churn`` a worker also
modifies its registration (``EVENT_READ`` <-> ``EVENT_READ | EVENT_WRITE``) after every
``churn`` connections it accepts, which an exclusive epoll registration turns into a delete
and a re-add. Closing the stop pipe ends the workers; each reports its counts and CPU time.

The client opens ``connections`` connections, ``window`` at a time (1: one after the other,
each once every worker sleeps in ``select()``, so that it finds every worker waiting: the
worst herd), and reads each one's byte.

Used by ``benches/exclusive_wakeups.py`` (the measurement) and by
``tests/reliability/test_prefork.py`` (every connection answered once, under load).
"""

import importlib
import json
import os
import resource
import select
import signal
import socket
import time

EVENT_READ = 1
EVENT_WRITE = 2

#: How long the client waits for a connection's answer before it calls the server broken (s).
ANSWER_TIMEOUT = 10

#: (label, module, register()'s exclusive keyword or None for the stdlib's signature)
VARIANTS = {
    "stdlib": ("selectors", None),
    "rselectors": ("rselectors", False),
    "rselectors exclusive": ("rselectors", True),
}


def _worker(module, cls_name, exclusive, listener, stop_r, ready_w, churn):
    """A worker's loop (in the forked child): returns its counts."""
    cls = getattr(importlib.import_module(module), cls_name)
    sel = cls()
    kwargs = {} if exclusive is None else {"exclusive": exclusive}
    sel.register(listener, EVENT_READ, "listener", **kwargs)
    sel.register(stop_r, EVENT_READ, "stop")
    os.write(ready_w, b"!")
    start = resource.getrusage(resource.RUSAGE_SELF)
    wakeups = accepted = empty = modifies = 0
    events = EVENT_READ
    while True:
        ready = sel.select()
        if any(key.data == "stop" for key, _ in ready):
            break
        if not ready:
            continue
        wakeups += 1
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            empty += 1
            continue
        accepted += 1
        conn.setblocking(True)
        try:
            conn.sendall(b"x")
        except OSError:
            pass  # the client gave up on it: the parent counts what it received
        conn.close()
        if churn and accepted % churn == 0:
            events ^= EVENT_WRITE
            sel.modify(listener, events, "listener")
            modifies += 1
    end = resource.getrusage(resource.RUSAGE_SELF)
    sel.close()
    return {
        "wakeups": wakeups,
        "accepted": accepted,
        "empty": empty,
        "modifies": modifies,
        # Every time the scheduler woke this worker from a wait and it went to sleep again:
        # the wake-ups the kernel made, including those epoll ends inside the kernel (a waiter
        # that finds the connection taken waits again without returning to user space).
        "switches": end.ru_nvcsw - start.ru_nvcsw,
        "cpu": (end.ru_utime + end.ru_stime) - (start.ru_utime + start.ru_stime),
    }


def _fork_worker(variant, cls_name, listener, pipes, churn):
    module, exclusive = VARIANTS[variant]
    pid = os.fork()
    if pid:
        return pid
    status = 0
    try:
        os.close(pipes["stop"][1])
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        report_w = pipes["report"][1]
        try:
            out = _worker(
                module, cls_name, exclusive, listener, pipes["stop"][0], pipes["ready"][1], churn
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = {"error": f"{type(exc).__name__}: {exc}"}
            status = 1
        os.write(report_w, (json.dumps(out) + "\n").encode())
    finally:
        os._exit(status)


def _settle(pids, limit=0.2):
    """Waits (at most ``limit`` seconds) until every worker sleeps, i.e. waits in
    ``select()`` (their only sleep): a connection made then finds every worker waiting."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            states = []
            for pid in pids:
                with open(f"/proc/{pid}/stat") as f:
                    states.append(f.read().rpartition(")")[2].split()[0])
        except OSError:
            return  # no /proc: no settling
        if all(state == "S" for state in states):
            return
        time.sleep(0.0005)


def _client(address, connections, window, deadline, pids):
    """Opens ``connections`` connections, ``window`` at a time, and reads each one's byte;
    returns how many were answered. Stops at the first connection left unanswered for
    ``ANSWER_TIMEOUT`` (every one is answered by a working server), or at ``deadline``.
    One at a time (``window`` 1), each connection waits until every worker waits."""
    answered = 0
    left = connections
    while left and time.monotonic() < deadline:
        if window == 1:
            _settle(pids)
        batch = []
        for _ in range(min(window, left)):
            batch.append(socket.create_connection(address, timeout=ANSWER_TIMEOUT))
        left -= len(batch)
        ok = True
        for conn in batch:
            try:
                ok = ok and conn.recv(1) == b"x"
            except OSError:
                ok = False
            answered += ok
            conn.close()
        if not ok:
            break
    return answered


def run(variant, workers, connections, window=1, cls_name="EpollSelector", churn=0, timeout=120):
    """One run: ``workers`` forked workers of ``variant`` (a key of :data:`VARIANTS`) on one
    listening socket, ``connections`` connections ``window`` at a time. Returns the totals:
    wake-ups, accepted, empty wake-ups, modifies, workers' CPU seconds, answered connections,
    elapsed seconds (client side), and the per-worker reports."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=max(128, window * 2))
    listener.setblocking(False)
    pipes = {name: list(os.pipe()) for name in ("stop", "ready", "report")}
    pids = []

    def close(name, end):
        if pipes[name][end] >= 0:
            os.close(pipes[name][end])
            pipes[name][end] = -1

    try:
        for _ in range(workers):
            pids.append(_fork_worker(variant, cls_name, listener, pipes, churn))
        close("ready", 1)
        close("report", 1)
        _read_lines(pipes["ready"][0], workers, b"!", time.monotonic() + 30)
        time.sleep(0.05)  # from registered to blocked in select()
        start = time.perf_counter()
        answered = _client(
            listener.getsockname(), connections, window, time.monotonic() + timeout, pids
        )
        elapsed = time.perf_counter() - start
        close("stop", 1)
        reports = [
            json.loads(line)
            for line in _read_lines(pipes["report"][0], workers, b"\n", time.monotonic() + 30)
        ]
    finally:
        for name in pipes:
            close(name, 0)
            close(name, 1)
        listener.close()
        _reap(pids)
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        raise RuntimeError(f"{variant}: worker failed: {errors[0]}")
    counts = ("wakeups", "accepted", "empty", "modifies", "switches", "cpu")
    total = {k: sum(r[k] for r in reports) for k in counts}
    total.update(answered=answered, elapsed=elapsed, reports=reports, workers=workers)
    return total


def _read_lines(fd, workers, end, deadline):
    """Reads until ``workers`` records ending in ``end`` arrived (or EOF); returns them."""
    buf = b""
    while buf.count(end) < workers:
        left = deadline - time.monotonic()
        r, _, _ = select.select([fd], [], [], max(0, left))
        if not r:
            raise TimeoutError(f"{buf.count(end)} of {workers} workers answered")
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    return [rec for rec in buf.split(end) if rec]


def _reap(pids):
    deadline = time.monotonic() + 10
    for pid in pids:
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.01)
