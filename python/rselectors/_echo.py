"""The echo server of the stdlib ``selectors`` documentation, on any selector.

``python -m rselectors echo`` runs it on rselectors, and the benchmarks in ``benches/`` run
it on each implementation they compare. ``examples/echo_server.py`` is the documentation's
program itself, with only its import changed.
"""

import socket
from selectors import EVENT_READ


def listen(sel, host, port, say=None):
    """Listen on ``(host, port)`` and register the socket on ``sel``; return the socket.

    Accepted connections are registered on ``sel`` too; ``say(*words)``, if given, is told of
    each connection and message (as the documentation's server prints them).
    """

    def accept(sock, mask):
        conn, addr = sock.accept()  # Should be ready
        if say:
            say("accepted", conn, "from", addr)
        conn.setblocking(False)
        sel.register(conn, EVENT_READ, read)

    def read(conn, mask):
        data = conn.recv(1000)  # Should be ready
        if data:
            if say:
                say("echoing", repr(data), "to", conn)
            conn.send(data)  # Hope it won't block
        else:
            if say:
                say("closing", conn)
            sel.unregister(conn)
            conn.close()

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(100)
    sock.setblocking(False)
    sel.register(sock, EVENT_READ, accept)
    return sock


def serve_forever(sel):
    """The documentation's loop: call each ready key's ``data`` with its file object."""
    while True:
        events = sel.select()
        for key, mask in events:
            callback = key.data
            callback(key.fileobj, mask)
