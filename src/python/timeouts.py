"""Slow-path timeout checks for rselectors, with the stdlib's exact arithmetic and errors.

rselectors handles exact ints and floats up to INT_MAX milliseconds natively. Every other
timeout comes here: each function applies the arithmetic the stdlib selector of that kind
applies, then hands the result to the stdlib ``select`` primitive in a way that cannot block
(an always-writable pipe or, on Windows, socket; or an argument checked after the timeout),
so any error is the one the running Python raises. ``closed``: the rselectors selector (one
with a kernel object) is closed: the primitive used is a closed one, which raises its "closed"
error where the stdlib selector's would. The return value is the timeout in seconds (0.0 to
poll).
"""

import math
import os
import select
import sys

_state = {}


def _writable_fd():
    """The write end of a private pipe (on Windows, whose select() takes sockets only, of a
    socket pair): always writable, so a poll or select of it returns at once."""
    if "writable" not in _state:
        if sys.platform == "win32":
            import socket

            _state["pair"] = socket.socketpair()  # both ends stay open with the module
            _state["writable"] = _state["pair"][1].fileno()
        else:
            r, w = os.pipe()
            os.set_inheritable(r, False)
            os.set_inheritable(w, False)
            _state["writable"] = w
    return _state["writable"]


def _poller(factory, name):
    if name not in _state:
        poller = factory()
        poller.register(_writable_fd(), select.POLLOUT)
        _state[name] = poller
    return _state[name]


def _kernel_object(factory, name, closed):
    """A stdlib kernel-object selector primitive kept for the checks (a closed one if
    ``closed``)."""
    key = (name, closed)
    if key not in _state:
        obj = factory()
        if closed:
            obj.close()
        _state[key] = obj
    return _state[key]


def epoll(timeout, closed=False):
    if timeout <= 0:
        if not closed:
            return 0.0
        seconds = 0
    else:
        seconds = math.ceil(timeout * 1e3) * 1e-3
    try:
        # The timeout is converted (and rejected) before maxevents is checked.
        _kernel_object(select.epoll, "epoll", closed).poll(seconds, -5)
    except ValueError as exc:
        if "maxevents" not in str(exc):
            raise
    return float(timeout)


def poll(timeout, closed=False):
    if timeout <= 0:
        return 0.0
    _poller(select.poll, "poll").poll(math.ceil(timeout * 1e3))
    return float(timeout)


def devpoll(timeout, closed=False):
    if timeout <= 0:
        if not closed:
            return 0.0
        ms = 0
    else:
        ms = math.ceil(timeout * 1e3)
    if closed:
        _kernel_object(select.devpoll, "devpoll", closed).poll(ms)
    _poller(select.devpoll, "devpoll").poll(ms)
    return float(timeout)


def select_(timeout, closed=False):
    timeout = max(timeout, 0)
    select.select([], [_writable_fd()], [], timeout)
    return float(timeout)


def kqueue(timeout, closed=False):
    timeout = max(timeout, 0)
    # With no events requested kqueue returns at once, after converting the timeout.
    _kernel_object(select.kqueue, "kqueue", closed).control(None, 0, timeout)
    return float(timeout)

