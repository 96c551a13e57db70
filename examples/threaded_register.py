"""One thread selects while worker threads register: rselectors' selectors are thread-safe.

    python examples/threaded_register.py [--workers 8] [--per-worker 50] [--backend poll]

The main thread sits in ``select()`` with no timeout. Worker threads create socket pairs,
``register()`` one end (with a callback as data) while the main thread is blocked, and write to
the other end. The blocked ``select()`` sees the new registrations at once, whatever the
backend (with the stdlib, a poll or select selector would not see fds registered during a
wait), and the last worker ends the loop with ``wakeup()``. (Any thread may also call
``unregister()``/``modify()`` and ``close()``.)
"""

import argparse
import socket
import sys
import threading
import time

import rselectors as selectors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--per-worker", type=int, default=50)
    p.add_argument("--backend", choices=["epoll", "poll", "select"], default=None)
    args = p.parse_args(argv)

    classes = {"epoll": "EpollSelector", "poll": "PollSelector", "select": "SelectSelector"}
    cls = getattr(selectors, classes[args.backend]) if args.backend else selectors.DefaultSelector
    sel = cls()
    expected = args.workers * args.per_worker
    received = []
    finished = threading.Event()
    keep = []  # the write ends, closed at exit

    def on_read(conn, mask):
        received.append(conn.recv(100))
        sel.unregister(conn)
        conn.close()

    def worker(w):
        for i in range(args.per_worker):
            r, s = socket.socketpair()
            r.setblocking(False)
            sel.register(r, selectors.EVENT_READ, on_read)  # while main is in select()
            s.send(b"w%d-%d" % (w, i))
            keep.append(s)
            time.sleep(0.0005)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(args.workers)]

    def last():
        for t in threads:
            t.join()
        finished.set()
        sel.wakeup()  # a select() blocked with nothing ready returns now

    t0 = time.monotonic()
    for t in threads:
        t.start()
    threading.Thread(target=last).start()
    selects = 0
    while not (finished.is_set() and len(received) == expected):
        for key, mask in sel.select():  # no timeout: only I/O or wakeup() returns
            key.data(key.fileobj, mask)
        selects += 1
    elapsed = time.monotonic() - t0
    for s in keep:
        s.close()
    assert len(sel.get_map()) == 0
    sel.close()
    print(
        f"{type(sel).__name__}: {len(received)} messages from {args.workers} threads "
        f"registering concurrently, {selects} select() calls, {elapsed:.3f} s"
    )
    return 0 if len(set(received)) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
