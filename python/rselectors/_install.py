"""``install()`` / ``uninstall()``: make ``selectors.DefaultSelector`` rselectors' process-wide.

What ``install()`` patches -- exactly one attribute:

* ``selectors.DefaultSelector`` becomes ``rselectors.DefaultSelector``.

So every ``selectors.DefaultSelector()`` evaluated *after* ``install()`` builds an rselectors
selector. That includes asyncio: ``BaseSelectorEventLoop.__init__`` looks up
``selectors.DefaultSelector`` when a loop is created without an explicit selector, so
``asyncio.run()``, ``asyncio.new_event_loop()`` and ``asyncio.SelectorEventLoop()`` get one. The
loop itself stays asyncio's class, woken from other threads through asyncio's self-pipe:
``install()`` sets no event loop policy and changes nothing in asyncio (unlike
``uvloop.install()``, which set a policy). The loop that uses ``wakeup()`` is
``rselectors.run(main())`` (or ``loop_factory=rselectors.new_event_loop``).

What it cannot reach:

* names bound before ``install()``: ``from selectors import DefaultSelector`` executed earlier,
  a class stored in a variable or default argument, selectors and event loops that already
  exist (a running loop keeps its selector);
* modules that bind a concrete class at import time, whatever ``install()`` does later:
  ``subprocess._PopenSelector`` (``Popen.communicate()``),
  ``socketserver._ServerSelector`` (``serve_forever()``, ``handle_request()``),
  ``multiprocessing.connection._WaitSelector`` (``wait()``) and, up to 3.12,
  ``telnetlib._TelnetSelector``. (``multiprocessing.forkserver`` looks up
  ``selectors.DefaultSelector`` at call time, so it is reached.) They name ``PollSelector`` or ``SelectSelector`` explicitly and
  ``install()`` leaves those private names, and the stdlib's concrete classes
  (``selectors.EpollSelector``, ``PollSelector``, ``SelectSelector``, ...), alone: code may subclass
  them and rely on their private internals (``_select``, ``_fd_to_key``, ``_key_from_fd``), which
  the native classes do not have;
* code that subclasses ``selectors.DefaultSelector`` after ``install()`` gets a subclass of the
  native class: public methods behave the same, private stdlib internals are absent.

``uninstall()`` puts back the stdlib's class saved by the first ``install()``, but only while
``selectors.DefaultSelector`` is still ours (if something else replaced it since, that is left
alone). Both functions are idempotent.
"""

import selectors as _stdlib

from . import DefaultSelector as _ours

__all__ = ["install", "uninstall"]

#: the stdlib's ``selectors.DefaultSelector`` as it was before the first install()
_original = None


def install():
    """Set ``selectors.DefaultSelector`` to ``rselectors.DefaultSelector``; change nothing else.

    Every ``selectors.DefaultSelector()`` evaluated afterwards makes an rselectors selector,
    asyncio's default loops' among them (they stay asyncio's loops, woken through asyncio's
    self-pipe: no event loop policy is set; ``rselectors.run()`` gives the ``wakeup()`` loop).
    Not reached: names bound earlier, selectors and loops that already exist, and modules that
    bind a concrete selector class at import (``subprocess``, ``socketserver``,
    ``multiprocessing.connection``); the ``rselectors._install`` module doc has the details.
    Idempotent; :func:`uninstall` undoes it.
    """
    global _original
    current = _stdlib.DefaultSelector
    if current is _ours:
        return
    _original = current
    _stdlib.DefaultSelector = _ours


def uninstall():
    """Undo :func:`install`: put the stdlib's ``selectors.DefaultSelector`` back."""
    if _original is not None and _stdlib.DefaultSelector is _ours:
        _stdlib.DefaultSelector = _original
