"""The Python half of examples/embed.rs: the selectors documentation's echo server.

It registers its sockets with callbacks as ``data`` and runs the usual loop,
``callback = key.data; callback(key.fileobj, mask)``, on a selector it shares with Rust code
that registered a Rust-owned fd on it: one loop serves both.
"""

import socket

import rselectors as selectors  # the only change from the stdlib version


def log(*args):
    # flush: stdout is a pipe under the test, and Rust prints to it too.
    print("python:", *args, flush=True)


class EchoServer:
    """Accepts ``clients`` connections, echoes what each sends until it closes."""

    def __init__(self, sel, clients):
        self.sel = sel
        self.remaining = clients
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(100)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        sel.register(sock, selectors.EVENT_READ, self.accept)
        log(f"echo server listening on 127.0.0.1:{self.port}")

    def accept(self, sock, mask):
        conn, addr = sock.accept()  # Should be ready
        log(f"accepted connection from port {addr[1]}")
        conn.setblocking(False)
        self.sel.register(conn, selectors.EVENT_READ, self.read)
        self.remaining -= 1
        if self.remaining == 0:
            log("all clients accepted, closing the listening socket")
            self.sel.unregister(sock)
            sock.close()

    def read(self, conn, mask):
        data = conn.recv(1000)  # Should be ready
        if data:
            log("echoing", repr(data))
            conn.send(data)  # Hope it won't block
        else:
            log("closing connection")
            self.sel.unregister(conn)
            conn.close()


def run(sel, timeout=10.0):
    """Dispatches events until nothing is registered; returns (select calls, callbacks)."""
    selects = callbacks = 0
    while sel.get_map():
        events = sel.select(timeout)
        selects += 1
        if not events:
            raise TimeoutError(f"nothing happened for {timeout} s")
        for key, mask in events:
            callback = key.data
            callback(key.fileobj, mask)
            callbacks += 1
    return selects, callbacks
