"""Garbage collection: cycles through key.data are collectable, references to data are not
leaked by register/modify/unregister/select/close."""

import gc
import sys
import weakref

import pytest
from _support import EVENT_BOTH, EVENT_READ, EVENT_WRITE


class Holder:
    """Like an asyncio handle: points back at the loop, which owns the selector."""

    def __init__(self, target):
        self.target = target


def _collect():
    for _ in range(3):
        gc.collect()


@pytest.fixture(autouse=True)
def _gc_enabled():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_cycle_through_data_is_collected(selector_class, socketpair):
    rd, wr = socketpair()
    sel = selector_class()
    sel.register(rd, EVENT_READ, Holder(sel))
    sel.register(wr, EVENT_WRITE, [sel, {"self": sel}])
    ref = weakref.ref(sel)
    del sel
    _collect()
    assert ref() is None, gc.get_referrers(ref()) if ref() is not None else None


def test_cycle_through_modified_data_is_collected(selector_class, socketpair):
    rd, _wr = socketpair()
    sel = selector_class()
    sel.register(rd, EVENT_READ, "plain")
    sel.modify(rd, EVENT_BOTH, Holder(sel))
    ref = weakref.ref(sel)
    del sel
    _collect()
    assert ref() is None


def test_cycle_through_map_view_is_collected(selector_class, socketpair):
    rd, _wr = socketpair()
    sel = selector_class()
    holder = Holder(None)
    sel.register(rd, EVENT_READ, holder)
    holder.target = sel.get_map()
    ref = weakref.ref(sel)
    del sel, holder
    _collect()
    assert ref() is None


def test_cycle_through_fileobj_is_collected(selector_class, socketpair):
    rd, _wr = socketpair()
    sel = selector_class()

    class FileLike:
        def __init__(self, fd, owner):
            self.fd = fd
            self.owner = owner

        def fileno(self):
            return self.fd

    sel.register(FileLike(rd.fileno(), sel), EVENT_READ)
    ref = weakref.ref(sel)
    del sel
    _collect()
    assert ref() is None


def test_subclass_with_attributes_cycle_is_collected(selector_class, socketpair):
    rd, wr = socketpair()

    class Loopish(selector_class):
        def __init__(self):
            super().__init__()
            self.me = self
            self.handlers = {}

    sel = Loopish()
    sel.handlers["x"] = Holder(sel)
    sel.register(rd, EVENT_READ, Holder(sel))
    sel.register(wr, EVENT_WRITE, sel.handlers)
    ref = weakref.ref(sel)
    del sel
    _collect()
    assert ref() is None


def test_closed_selector_cycle_is_collected(selector_class, socketpair):
    rd, _wr = socketpair()
    sel = selector_class()
    sel.register(rd, EVENT_READ, Holder(sel))
    sel.close()
    ref = weakref.ref(sel)
    del sel
    _collect()
    assert ref() is None


def test_data_collected_after_selector_dies(selector_class, socketpair):
    rd, _wr = socketpair()
    sel = selector_class()

    class Data:
        pass

    data = Data()
    data_ref = weakref.ref(data)
    sel.register(rd, EVENT_READ, data)
    del data
    assert data_ref() is not None
    del sel
    _collect()
    assert data_ref() is None


# --- refcounts --------------------------------------------------------------------------------

def _refcount_stable(make_cycles, obj):
    _collect()
    before = sys.getrefcount(obj)
    make_cycles()
    _collect()
    after = sys.getrefcount(obj)
    return before, after


def test_data_refcount_register_unregister(sel, socketpair):
    rd, _wr = socketpair()
    data = object()
    other = object()

    def cycles():
        for _ in range(200):
            sel.register(rd, EVENT_READ, data)
            sel.modify(rd, EVENT_BOTH, data)
            sel.modify(rd, EVENT_BOTH, other)
            sel.modify(rd, EVENT_READ, data)
            sel.modify(rd, EVENT_READ, data)
            sel.get_key(rd)
            sel.get_map()[rd]
            list(sel.get_map().values())
            sel.unregister(rd)

    before, after = _refcount_stable(cycles, data)
    assert after == before
    before, after = _refcount_stable(cycles, other)
    assert after == before


def test_data_refcount_select(sel, socketpair):
    rd, wr = socketpair()
    data = object()
    wr.send(b"x")

    def cycles():
        sel.register(rd, EVENT_BOTH, data)
        for _ in range(200):
            assert len(sel.select(0)) == 1
        sel.unregister(rd)

    before, after = _refcount_stable(cycles, data)
    assert after == before


def test_data_refcount_failed_calls(sel, socketpair):
    rd, _wr = socketpair()
    data = object()

    def cycles():
        for _ in range(100):
            for call in (
                lambda: sel.register(rd, 0, data),
                lambda: sel.register(object(), EVENT_READ, data),
                lambda: sel.register(-1, EVENT_READ, data),
                lambda: sel.modify(rd, EVENT_READ, data),
            ):
                try:
                    call()
                except (ValueError, KeyError):
                    pass
            sel.register(rd, EVENT_READ, data)
            try:
                sel.register(rd, EVENT_READ, data)
            except KeyError:
                pass
            sel.unregister(rd)

    before, after = _refcount_stable(cycles, data)
    assert after == before


def test_data_refcount_close(selector_class, socketpair):
    rd, wr = socketpair()
    data = object()

    def cycles():
        for _ in range(50):
            s = selector_class()
            s.register(rd, EVENT_READ, data)
            s.register(wr, EVENT_WRITE, data)
            s.close()
            del s

    before, after = _refcount_stable(cycles, data)
    assert after == before


def test_fileobj_refcount(sel, socketpair):
    rd, _wr = socketpair()

    def cycles():
        for _ in range(200):
            sel.register(rd, EVENT_READ)
            sel.modify(rd, EVENT_BOTH)
            sel.unregister(rd)

    before, after = _refcount_stable(cycles, rd)
    assert after == before
