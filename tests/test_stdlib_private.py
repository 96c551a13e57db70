"""The stdlib's private helpers that code in the wild subclasses, builds or patches, reached
through the module under test: ``_BaseSelectorImpl`` (trio-asyncio's ``_TrioSelector``,
asynctest's ``TestSelector``, GLib and zmq selectors subclass it), ``_PollLikeSelector``
(aiopg's documented workaround patches its ``modify``), ``_SelectorMapping`` and
``_fileobj_to_fd``. They are the stdlib's own objects, so such code behaves exactly as on the
stdlib; the native classes are not their subclasses (an ``isinstance`` check against them
promises private attributes the native classes lack). The random differential run of a
subclass of ``_BaseSelectorImpl`` is in ``tests/test_differential.py`` (kind
``_BaseSelectorImpl``); the third-party suites in ``scripts/third-party-suites``.
"""

import selectors as stdlib
import subprocess
import sys
import textwrap

import pytest
from _support import (
    IS_STDLIB,
    SELECTOR_CLASSES,
    TARGET,
    needs_selector,
    socketpair,
)

PRIVATE = ("_BaseSelectorImpl", "_PollLikeSelector", "_SelectorMapping", "_fileobj_to_fd")


def run_py(code):
    """Run ``code`` in a fresh interpreter (patches of the stdlib's classes are process-wide);
    fail with its output unless it exits 0; return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", PRIVATE)
def test_the_private_helpers_are_the_stdlibs_own(name):
    assert getattr(TARGET, name) is getattr(stdlib, name)


def test_the_issue_repro():
    """Issue 28's repro, verbatim but for the print: a subclass of the base that supplies
    select() is built and used on both modules, with the same results."""
    maps = []
    for mod in (stdlib, TARGET):

        class LoopDrivenSelector(mod._BaseSelectorImpl):
            def select(self, timeout=None):
                raise NotImplementedError

        s = LoopDrivenSelector()
        s.register(0, mod.EVENT_READ, ("reader", None))
        s.modify(0, mod.EVENT_READ | mod.EVENT_WRITE, ("reader", "writer"))
        maps.append(dict(s.get_map()))
        s.close()
        assert s.get_map() is None
    expected = {0: stdlib.SelectorKey(0, 0, 3, ("reader", "writer"))}
    assert maps == [expected, expected]


def test_a_subclass_in_the_style_of_asynctest():
    """asynctest's TestSelector: overrides _fileobj_lookup, writes _fd_to_key, builds
    _SelectorMapping; its own select() reads the table."""
    a, b = socketpair()

    class Fake:
        def fileno(self):
            return -7  # no real fd: _fileobj_lookup below answers for it

    fake = Fake()

    class TableSelector(TARGET._BaseSelectorImpl):
        def _fileobj_lookup(self, fileobj):
            return 10_000 if fileobj is fake else super()._fileobj_lookup(fileobj)

        def select(self, timeout=None):
            return [(key, key.events) for key in self._fd_to_key.values()]

    try:
        sel = TableSelector()
        sel.register(fake, TARGET.EVENT_READ, "fake")
        sel.register(a, TARGET.EVENT_WRITE)
        assert sel.get_key(fake).fd == 10_000
        assert list(TARGET._SelectorMapping(sel)) == [10_000, a.fileno()]
        assert [k.data for k, _ in sel.select()] == ["fake", None]
        assert sel.unregister(fake).data == "fake"
        with pytest.raises(KeyError):
            sel.get_key(fake)
        assert TARGET._fileobj_to_fd(a) == a.fileno()
        with pytest.raises(ValueError, match="Invalid file descriptor: -7"):
            TARGET._fileobj_to_fd(fake)
        sel.close()
    finally:
        a.close()
        b.close()


@pytest.mark.skipif(IS_STDLIB, reason="the native classes' relation to the stdlib's privates")
@pytest.mark.parametrize("cls", SELECTOR_CLASSES, ids=lambda c: c.__name__)
def test_native_classes_are_not_subclasses_of_the_private_bases(cls):
    """A native selector is a BaseSelector (and a WakeableSelector), not a _BaseSelectorImpl
    or _PollLikeSelector: code that checks for those goes on to use their private attributes
    (Synapse: isinstance(sel, _PollLikeSelector), then sel._selector), which it lacks."""
    sel = cls()
    try:
        assert isinstance(sel, stdlib.BaseSelector)
        assert isinstance(sel, TARGET.WakeableSelector)
        for name in ("_BaseSelectorImpl", "_PollLikeSelector"):
            assert not isinstance(sel, getattr(TARGET, name)), name
            assert not issubclass(cls, getattr(TARGET, name)), name
        assert not hasattr(sel, "_fd_to_key") and not hasattr(sel, "_selector")
        # the native base and mapping have names of their own
        assert type(sel.get_map()) is not TARGET._SelectorMapping
        assert all(base.__name__ != "_BaseSelectorImpl" for base in cls.__mro__)
        assert type(sel.get_map()).__name__ != "_SelectorMapping"
    finally:
        sel.close()


@needs_selector("PollSelector")
@pytest.mark.parametrize("swap", [False, True], ids=["import-as", "sys.modules-swap"])
def test_the_aiopg_workaround(swap):
    """aiopg's documented workaround (aiopg issue 837): make the stdlib's poll-like modify the
    base class's unregister + register. Through the module under test (``import rselectors as
    selectors``, or rselectors in sys.modules["selectors"]) it patches the stdlib's class, as
    it does without rselectors, and the module's own DefaultSelector keeps working."""
    module = TARGET.__name__
    run_py(
        f"""
        import socket
        import sys
        import selectors as stdlib
        import {module} as target

        if {swap}:
            sys.modules["selectors"] = target
            import selectors
        else:
            import {module} as selectors
        assert selectors is target

        selectors._PollLikeSelector.modify = selectors._BaseSelectorImpl.modify  # aiopg's line

        assert stdlib.PollSelector.modify is stdlib._BaseSelectorImpl.modify
        a, b = socket.socketpair()
        for cls in (stdlib.PollSelector, selectors.DefaultSelector):
            sel = cls()
            sel.register(a, selectors.EVENT_READ, "a")
            sel.register(b, selectors.EVENT_READ, "b")
            key = sel.modify(a, selectors.EVENT_READ | selectors.EVENT_WRITE, "a2")
            assert (key.fileobj, key.events, key.data) == (a, 3, "a2"), key
            assert sel.select(0) == [(sel.get_key(a), selectors.EVENT_WRITE)], sel.select(0)
            order = [k.data for k in sel.get_map().values()]
            if cls is stdlib.PollSelector:  # the patched modify: unregister + register
                assert order == ["b", "a2"], order
            sel.close()
        """
    )


@pytest.mark.parametrize("style", ["from-import", "attribute"])
def test_trio_asyncio_style_import_under_a_sys_modules_swap(style):
    """With the module under test in sys.modules["selectors"] before the third-party code is
    imported (how the suites run in scripts/third-party-suites), ``from selectors import
    _BaseSelectorImpl`` (trio-asyncio) and ``selectors._BaseSelectorImpl`` (asynctest) give the
    stdlib's class, and asyncio's loop drives such a selector."""
    module = TARGET.__name__
    lookup = (
        "from selectors import _BaseSelectorImpl, EVENT_READ"
        if style == "from-import"
        else "import selectors; _BaseSelectorImpl = selectors._BaseSelectorImpl; "
        "EVENT_READ = selectors.EVENT_READ"
    )
    out = run_py(
        f"""
        import sys
        import {module}
        sys.modules["selectors"] = {module}
        {lookup}
        import asyncio, socket

        class Wrapping(_BaseSelectorImpl):
            '''Keeps its own table and asks a real selector for readiness.'''
            def __init__(self):
                super().__init__()
                self.real = {module}.DefaultSelector()
            def register(self, fileobj, events, data=None):
                key = super().register(fileobj, events, data)
                self.real.register(fileobj, events)
                return key
            def unregister(self, fileobj):
                self.real.unregister(fileobj)
                return super().unregister(fileobj)
            def select(self, timeout=None):
                return [(self._fd_to_key[k.fd], ev) for k, ev in self.real.select(timeout)]
            def close(self):
                self.real.close()
                super().close()

        assert _BaseSelectorImpl.__module__ == "selectors"
        loop = asyncio.SelectorEventLoop(Wrapping())
        a, b = socket.socketpair()
        a.setblocking(False)

        async def main():
            loop.call_later(0.01, b.send, b"ping")
            return await loop.sock_recv(a, 4)

        print(loop.run_until_complete(main()))
        loop.close()
        """
    )
    assert out == "b'ping'\n"
