"""Selectors module, in Rust: a faster, drop-in replacement for the stdlib's ``selectors``.

``import rselectors as selectors`` works unchanged in code written for the stdlib module:
the same classes, constants, exceptions and messages, and keys that are instances of the
stdlib's own ``selectors.SelectorKey``. The native selectors are also thread-safe (register
from one thread while another is in ``select()``; ``close()`` wakes a blocked ``select()``),
honour sub-millisecond timeouts, and add ``wakeup()``, priority and hang-up events
(``EVENT_PRIORITY``, ``EVENT_HANGUP``) and exclusive wake-ups (``register(..., exclusive=True)``).
On Windows, as in the stdlib, there is ``SelectSelector`` alone (winsock's ``select()``: sockets
only), and it is ``DefaultSelector``.
"""

import selectors as _stdlib
from abc import abstractmethod as _abstractmethod
from collections.abc import Mapping as _Mapping
from selectors import EVENT_READ, EVENT_WRITE, BaseSelector, SelectorKey

from . import _rselectors
from ._rselectors import (
    EVENT_HANGUP,
    EVENT_PRIORITY,
    SelectSelector,
    _NativeSelectorImpl,
    _NativeSelectorMapping,
)

__version__ = _rselectors.__version__

__all__ = [
    "EVENT_HANGUP",
    "EVENT_PRIORITY",
    "EVENT_READ",
    "EVENT_WRITE",
    "BaseSelector",
    "DefaultSelector",
    "SelectSelector",
    "SelectorKey",
    "WakeableSelector",
]

# The classes this platform has (Windows: none of them, as in the stdlib).
for _name in ("PollSelector", "EpollSelector", "KqueueSelector", "DevpollSelector"):
    if hasattr(_rselectors, _name):
        globals()[_name] = getattr(_rselectors, _name)
        __all__.append(_name)


class WakeableSelector(BaseSelector):
    """A ``selectors.BaseSelector`` that also has ``wakeup()``: what rselectors' selectors add.

    Every rselectors selector class is a (virtual) subclass, so code typed against the stdlib's
    ``BaseSelector`` narrows with ``isinstance(sel, rselectors.WakeableSelector)`` before calling
    ``sel.wakeup()``; a stdlib selector is not one. A Python class may subclass it too: it then
    implements ``wakeup()`` with the contract below, besides ``BaseSelector``'s.
    """

    __slots__ = ()

    @_abstractmethod
    def wakeup(self):
        """Make a ``select()`` blocked in another thread (or the next ``select()``) return promptly.

        Thread-safe; calls made before a ``select()`` consumes them are coalesced into one
        wake-up; does nothing once the selector is closed.
        """
        raise NotImplementedError


# Native classes are virtual subclasses of the stdlib ABCs, so isinstance() checks written
# for the stdlib (asyncio's among them) accept them, and of WakeableSelector.
# (BaseSelector.register is the abstract selector method, so call the metaclass's register.)
type(BaseSelector).register(BaseSelector, _NativeSelectorImpl)
type(WakeableSelector).register(WakeableSelector, _NativeSelectorImpl)
_Mapping.register(_NativeSelectorMapping)

# The stdlib's private helpers that Python code subclasses, builds or patches, reached through
# rselectors as the stdlib's own objects (so `import rselectors as selectors`, or rselectors in
# sys.modules["selectors"], keeps such code working): `_BaseSelectorImpl` (subclassed by
# selectors that get their readiness elsewhere: trio-asyncio, asynctest, GLib and zmq loops),
# `_PollLikeSelector` (patched: aiopg's documented workaround), `_SelectorMapping` (built by
# such subclasses), `_fileobj_to_fd`. Patching them changes the stdlib's classes, as it would
# without rselectors; the native classes are not their subclasses, real or virtual: an
# isinstance() check against them is a promise of private attributes (`_fd_to_key`,
# `_selector`, ...) that the native classes do not have.
for _name in ("_BaseSelectorImpl", "_PollLikeSelector", "_SelectorMapping", "_fileobj_to_fd"):
    if hasattr(_stdlib, _name):
        globals()[_name] = getattr(_stdlib, _name)


def _can_use(cls):
    """Whether a selector class works here (epoll can exist and fail with ENOSYS)."""
    try:
        selector = cls()
    except OSError:
        return False
    try:
        selector.select(0)
    except OSError:
        return False
    finally:
        selector.close()
    return True


# The best implementation that works, in the stdlib's order: kqueue|epoll|devpoll > poll >
# select, chosen once at import.
DefaultSelector = next(
    cls
    for cls in (
        globals().get("KqueueSelector"),
        globals().get("EpollSelector"),
        globals().get("DevpollSelector"),
        globals().get("PollSelector"),
        SelectSelector,
    )
    if cls is not None and _can_use(cls)
)

del _name

# Ecosystem helpers. install()/uninstall() are light; the asyncio names import asyncio, so they
# load on first use (PEP 562) and ``import rselectors`` stays as cheap as ``import selectors``.
from ._install import install, uninstall

__all__ += [
    "EventLoopPolicy",
    "SelectorEventLoop",
    "install",
    "new_event_loop",
    "run",
    "uninstall",
]

_ASYNCIO_NAMES = frozenset(("run", "new_event_loop", "EventLoopPolicy", "SelectorEventLoop"))


def __getattr__(name):
    if name in _ASYNCIO_NAMES:
        from . import _asyncio

        value = getattr(_asyncio, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
