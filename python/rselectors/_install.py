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

Monkey-patched processes (gevent's ``monkey.patch_all()``, eventlet's ``monkey_patch()``):
``install()`` raises ``RuntimeError`` and changes nothing. Their ``selectors.DefaultSelector``
(and ``select.select``, ``select.poll``) are cooperative: waiting in one switches to other
greenlets. rselectors' selectors wait in the kernel, which would stop every greenlet of the
thread for as long as one waits. ``uninstall()`` raises too when it would put the stdlib's class
back into such a process (patched after ``install()`` without its ``selectors`` being patched).
What counts as patched is read from the modules themselves, not from a list of libraries:

* ``select``: each of ``select``, ``poll``, ``epoll``, ``kqueue``, ``devpoll`` it has must be the
  extension module's own (a builtin function of that module, or one of its C types);
* ``selectors``: each selector class it has (``DefaultSelector``, ``SelectSelector``, ...) must be
  the stdlib's own: every Python function in its classes was defined in the ``selectors``
  module itself (a copy of the module, as eventlet makes, does not count), and every builtin or
  type they hold (``_select``, ``_selector_cls``) is the ``select`` module's own. rselectors'
  native classes do not count as patches (they are what ``install()`` puts there).
"""

import selectors as _stdlib
import sys
import types

from . import DefaultSelector as _ours
from . import _NativeSelectorImpl

__all__ = ["install", "uninstall"]

#: the stdlib's ``selectors.DefaultSelector`` as it was before the first install()
_original = None

_SELECT_NAMES = ("select", "poll", "epoll", "kqueue", "devpoll")
_SELECTOR_CLASSES = (
    "DefaultSelector",
    "SelectSelector",
    "PollSelector",
    "EpollSelector",
    "KqueueSelector",
    "DevpollSelector",
)


def _name(obj):
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _select_own(module, obj):
    """Whether ``obj`` is the ``select`` extension module's own function or C type."""
    if isinstance(obj, types.BuiltinFunctionType):
        return obj.__self__ is module
    return (
        isinstance(obj, type)
        and obj.__module__ == "select"
        and not any(isinstance(v, types.FunctionType) for v in vars(obj).values())
    )


def _not_stdlib_own(name, cls, select_module):
    """Why ``selectors.<name>``, ``cls``, is not a selector class of the stdlib's ``selectors``
    module as it was defined there (see the module doc); None if it is."""
    where = f"selectors.{name} is {_name(cls)}"
    if not isinstance(cls, type) or cls.__module__ != "selectors":
        return where
    for klass in cls.__mro__[:-1]:  # not object
        for attr, value in vars(klass).items():
            value = getattr(value, "__func__", value)  # staticmethod, classmethod
            if isinstance(value, types.FunctionType) and value.__globals__ is not vars(_stdlib):
                origin = "" if value.__module__ == "selectors" else f" ({value.__module__})"
                return f"{where} from another copy of the selectors module{origin}"
            if isinstance(value, (types.BuiltinFunctionType, type)) and not _select_own(
                select_module, value
            ):
                return f"selectors.{name}.{attr} is {_name(value)}"
    return None


def _patches():
    """What in ``select`` and ``selectors`` is not their own, as ``"name is what"`` strings."""
    found = []
    select_module = sys.modules.get("select")
    modules = [select_module, getattr(_stdlib, "select", None)]
    for module in {id(m): m for m in modules if m is not None}.values():
        own = module is select_module and module is getattr(_stdlib, "select", None)
        for name in _SELECT_NAMES:
            obj = getattr(module, name, None)
            if obj is not None and not _select_own(module, obj):
                found.append(f"select.{name} is {_name(obj)}")
        if not own:
            found.append(f"selectors.select is {module!r}, sys.modules['select'] is "
                         f"{select_module!r}")
    for name in _SELECTOR_CLASSES:
        cls = getattr(_stdlib, name, None)
        if cls is None or (isinstance(cls, type) and issubclass(cls, _NativeSelectorImpl)):
            continue
        why = _not_stdlib_own(name, cls, getattr(_stdlib, "select", None))
        if why:
            found.append(why)
    return list(dict.fromkeys(found))


def _refuse(call, found, consequence):
    raise RuntimeError(
        f"rselectors.{call}() refused, nothing was changed: the select and selectors modules "
        f"have been monkey-patched ({'; '.join(found)}), as gevent's monkey.patch_all() and "
        f"eventlet's monkey_patch() do. Their selectors are cooperative: waiting in one lets "
        f"the other greenlets run. {consequence}"
    )


def install():
    """Set ``selectors.DefaultSelector`` to ``rselectors.DefaultSelector``; change nothing else.

    Every ``selectors.DefaultSelector()`` evaluated afterwards makes an rselectors selector,
    asyncio's default loops' among them (they stay asyncio's loops, woken through asyncio's
    self-pipe: no event loop policy is set; ``rselectors.run()`` gives the ``wakeup()`` loop).
    Not reached: names bound earlier, selectors and loops that already exist, and modules that
    bind a concrete selector class at import (``subprocess``, ``socketserver``,
    ``multiprocessing.connection``); the ``rselectors._install`` module doc has the details.
    Idempotent; :func:`uninstall` undoes it. Raises ``RuntimeError``, changing nothing, in a
    process monkey-patched for green threads (gevent, eventlet), whose cooperative selectors
    rselectors' would block.
    """
    global _original
    found = _patches()
    if found:
        _refuse(
            "install",
            found,
            "rselectors' selectors wait in the kernel: installed, one greenlet waiting in "
            "select() would stop every other one of its thread. Leave the patched selectors in "
            "place: do not call rselectors.install() (nor use rselectors' selectors) in a "
            "monkey-patched program.",
        )
    current = _stdlib.DefaultSelector
    if current is _ours:
        return
    _original = current
    _stdlib.DefaultSelector = _ours


def uninstall():
    """Undo :func:`install`: put the stdlib's ``selectors.DefaultSelector`` back.

    Does nothing if ``selectors.DefaultSelector`` is no longer rselectors' (something replaced
    it since). Raises ``RuntimeError``, changing nothing, if the process has been
    monkey-patched (gevent, eventlet) since :func:`install` without its
    ``selectors.DefaultSelector`` being replaced.
    """
    if _original is None or _stdlib.DefaultSelector is not _ours:
        return
    found = _patches()
    if found:
        _refuse(
            "uninstall",
            found,
            f"selectors.DefaultSelector is still rselectors', and the stdlib's class install() "
            f"replaced ({_name(_original)}, saved before the patching) would block the "
            f"greenlets as well. Set selectors.DefaultSelector to the patching library's "
            f"selector (gevent: gevent.monkey.patch_selectors()), or patch before "
            f"rselectors.install() (which then refuses).",
        )
    _stdlib.DefaultSelector = _original
