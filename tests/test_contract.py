"""Module surface: constants, SelectorKey and BaseSelector are the stdlib's, the classes that
exist here, DefaultSelector, Python subclasses and mocking of instances."""

import collections.abc
import copy
import gc
import pickle
import unittest.mock
import weakref

import pytest
from _support import (
    ALL_CLASS_NAMES,
    CLASS_NAMES,
    EMPTY_SETS,
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    SELECTOR_CLASSES,
    TARGET,
    kind,
    stdlib,
    windows_fixes_stdlib,
)

# --- module surface -------------------------------------------------------------------------

def test_event_constants():
    assert TARGET.EVENT_READ == stdlib.EVENT_READ == 1
    assert TARGET.EVENT_WRITE == stdlib.EVENT_WRITE == 2
    assert type(TARGET.EVENT_READ) is int
    assert type(TARGET.EVENT_WRITE) is int


def test_selectorkey_is_the_stdlib_class():
    assert TARGET.SelectorKey is stdlib.SelectorKey


def test_baseselector_is_the_stdlib_abc():
    assert TARGET.BaseSelector is stdlib.BaseSelector
    with pytest.raises(TypeError):
        TARGET.BaseSelector()


def test_same_selector_classes_as_stdlib():
    """A class exists exactly where the stdlib has it on this platform."""
    for name in ALL_CLASS_NAMES:
        assert hasattr(TARGET, name) == hasattr(stdlib, name), name
    assert CLASS_NAMES  # at least SelectSelector everywhere
    assert "SelectSelector" in CLASS_NAMES


@windows_fixes_stdlib(EMPTY_SETS)
def test_default_selector():
    """DefaultSelector is one of the module's own classes, the same kind the stdlib picks."""
    default = TARGET.DefaultSelector
    assert any(default is cls for cls in SELECTOR_CLASSES)
    assert kind(default) == stdlib.DefaultSelector.__name__
    with default() as s:
        assert isinstance(s, stdlib.BaseSelector)
        assert s.select(0) == []


def test_python_subclass_of_baseselector_works():
    """asyncio's tests subclass BaseSelector from the module (test_asyncio.utils)."""

    class Dummy(TARGET.BaseSelector):
        def __init__(self):
            self.keys = {}

        def register(self, fileobj, events, data=None):
            key = TARGET.SelectorKey(fileobj, 0, events, data)
            self.keys[fileobj] = key
            return key

        def unregister(self, fileobj):
            return self.keys.pop(fileobj)

        def select(self, timeout=None):
            return []

        def get_map(self):
            return self.keys

    with Dummy() as d:
        key = d.register(1, EVENT_READ, "x")
        assert d.get_key(1) is key
        # BaseSelector.modify = unregister + register
        assert d.modify(1, EVENT_WRITE).events == EVENT_WRITE


# --- per-class ABC / type properties --------------------------------------------------------

def test_instance_is_baseselector(sel, selector_class):
    assert isinstance(sel, stdlib.BaseSelector)
    assert isinstance(sel, TARGET.BaseSelector)
    assert issubclass(selector_class, stdlib.BaseSelector)


def test_class_name(selector_class):
    assert selector_class.__name__ == kind(selector_class)


def test_weakref(selector_class):
    s = selector_class()
    ref = weakref.ref(s)
    assert ref() is s
    s.close()
    del s
    gc.collect()
    assert ref() is None


def test_has_fileno_like_stdlib(sel, selector_class):
    assert hasattr(sel, "fileno") == hasattr(getattr(stdlib, kind(selector_class)), "fileno")


def test_instances_have_a_dict(sel):
    """CPython's test_selectors assigns Mocks to instance attributes."""
    assert isinstance(sel.__dict__, dict)
    sel.custom = 42
    assert sel.custom == 42
    assert sel.__dict__["custom"] == 42


def test_instance_attribute_shadows_method(sel, socketpair):
    rd, _wr = socketpair()
    sel.register = unittest.mock.Mock(return_value="mocked")
    assert sel.register(rd, EVENT_READ) == "mocked"
    del sel.register
    key = sel.register(rd, EVENT_READ)
    assert isinstance(key, stdlib.SelectorKey)


def test_mock_patch_object_register(sel, socketpair):
    """modify() of data only must not go through self.register/self.unregister."""
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ, "a")
    with unittest.mock.patch.object(sel, "register") as reg, unittest.mock.patch.object(
        sel, "unregister"
    ) as unreg:
        key2 = sel.modify(rd, EVENT_READ, "b")
        assert not reg.called
        assert not unreg.called
        sel.register(wr, EVENT_WRITE)
        assert reg.called
    assert key2.data == "b" and key2.events == key.events
    assert sel.get_key(rd) is key2
    # the real methods are back
    assert sel.unregister(rd) is key2
    assert sel.register(wr, EVENT_WRITE).fileobj is wr


@windows_fixes_stdlib(EMPTY_SETS)
def test_mock_patch_object_select(sel):
    with unittest.mock.patch.object(sel, "select", return_value=["sentinel"]) as m:
        assert sel.select(1) == ["sentinel"]
        m.assert_called_once_with(1)
    assert sel.select(0) == []


# --- Python subclasses ----------------------------------------------------------------------

@pytest.mark.parametrize("selector_class", SELECTOR_CLASSES, ids=CLASS_NAMES)
def test_subclass_overrides_and_calls_super(selector_class, socketpair):
    class Sub(selector_class):
        def __init__(self, tag, *, extra=None):
            super().__init__()
            self.tag = tag
            self.extra = extra
            self.calls = []

        def register(self, fileobj, events, data=None):
            self.calls.append(("register", fileobj, events))
            return super().register(fileobj, events, data)

        def unregister(self, fileobj):
            self.calls.append(("unregister", fileobj))
            return super().unregister(fileobj)

        def select(self, timeout=None):
            self.calls.append(("select", timeout))
            return super().select(timeout)

    _rd, wr = socketpair()
    s = Sub("t", extra=[1])
    try:
        assert isinstance(s, selector_class)
        assert isinstance(s, stdlib.BaseSelector)
        assert s.tag == "t" and s.extra == [1]
        assert s.__dict__["tag"] == "t"
        key = s.register(wr, EVENT_WRITE, "d")
        assert isinstance(key, stdlib.SelectorKey)
        assert s.get_key(wr) is key
        assert s.select(0) == [(key, EVENT_WRITE)]
        assert s.unregister(wr) is key
        assert s.calls == [
            ("register", wr, EVENT_WRITE),
            ("select", 0),
            ("unregister", wr),
        ]
    finally:
        s.close()


@pytest.mark.parametrize("selector_class", SELECTOR_CLASSES, ids=CLASS_NAMES)
def test_subclass_close_override_used_by_context_manager(selector_class):
    closed = []

    class Sub(selector_class):
        def close(self):
            closed.append(True)
            super().close()

    with Sub() as s:
        assert isinstance(s, Sub)
    assert closed == [True]
    assert s.get_map() is None


@pytest.mark.parametrize("selector_class", SELECTOR_CLASSES, ids=CLASS_NAMES)
def test_subclass_class_attributes_and_methods(selector_class, socketpair):
    rd, _wr = socketpair()

    class Sub(selector_class):
        flavour = "vanilla"

        def describe(self):
            return f"{self.flavour}:{len(self.get_map())}"

    with Sub() as s:
        assert s.describe() == "vanilla:0"
        s.flavour = "chocolate"
        s.register(rd, EVENT_READ)
        assert s.describe() == "chocolate:1"
        assert Sub.flavour == "vanilla"


# --- SelectorKey -----------------------------------------------------------------------------

def test_key_is_stdlib_namedtuple(sel, socketpair):
    rd, _wr = socketpair()
    key = sel.register(rd, EVENT_READ, "data")
    assert type(key) is stdlib.SelectorKey
    assert isinstance(key, tuple)
    fileobj, fd, events, data = key
    assert fileobj is rd and fd == rd.fileno() and events == EVENT_READ and data == "data"
    assert key == (rd, rd.fileno(), EVENT_READ, "data")
    assert hash(key) == hash((rd, rd.fileno(), EVENT_READ, "data"))
    assert key._fields == ("fileobj", "fd", "events", "data")
    assert key._asdict() == {"fileobj": rd, "fd": rd.fileno(), "events": 1, "data": "data"}
    assert repr(key) == repr(stdlib.SelectorKey(rd, rd.fileno(), EVENT_READ, "data"))
    replaced = key._replace(data=5)
    assert type(replaced) is stdlib.SelectorKey
    assert replaced == (rd, rd.fileno(), EVENT_READ, 5)
    assert copy.copy(key) == key


def test_key_pickles(sel, socketpair):
    rd, _wr = socketpair()
    key = sel.register(rd.fileno(), EVENT_BOTH, ("some", "data"))
    again = pickle.loads(pickle.dumps(key))
    assert type(again) is stdlib.SelectorKey
    assert again == key
    assert again == stdlib.SelectorKey(rd.fileno(), rd.fileno(), EVENT_BOTH, ("some", "data"))


def test_keys_equal_across_selectors(selector_class, socketpair):
    """Keys compare like tuples: two selectors produce equal keys for equal registrations."""
    rd, _wr = socketpair()
    with selector_class() as a, getattr(stdlib, kind(selector_class))() as b:
        ka = a.register(rd, EVENT_READ, "x")
        kb = b.register(rd, EVENT_READ, "x")
        assert ka == kb
        assert hash(ka) == hash(kb)
        assert {ka: 1}[kb] == 1


def test_mapping_abc(sel):
    assert isinstance(sel.get_map(), collections.abc.Mapping)
