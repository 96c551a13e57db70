"""get_map(): a live, read-only Mapping view of fd -> key, in registration order."""

import collections.abc

from _support import (
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    FilenoObj,
    raised,
)


def test_empty_map(sel):
    m = sel.get_map()
    assert isinstance(m, collections.abc.Mapping)
    assert not m
    assert len(m) == 0
    assert list(m) == []
    assert list(m.keys()) == []
    assert list(m.values()) == []
    assert list(m.items()) == []
    assert m == {}


def test_map_is_live(sel, socketpair):
    rd, wr = socketpair()
    m = sel.get_map()
    key = sel.register(rd, EVENT_READ, "data")
    assert m
    assert len(m) == 1
    assert rd in m and rd.fileno() in m
    assert m[rd] is key and m[rd.fileno()] is key
    assert list(m) == [rd.fileno()]
    assert list(m.values()) == [key]
    assert list(m.items()) == [(rd.fileno(), key)]
    key2 = sel.modify(rd, EVENT_READ, "other")
    assert m[rd] is key2
    sel.unregister(rd)
    assert len(m) == 0 and rd not in m
    sel.register(wr, EVENT_WRITE)
    assert list(m) == [wr.fileno()]


def test_iteration_in_registration_order(sel, socketpair):
    socks = [s for _ in range(8) for s in socketpair()]
    order = [socks[i] for i in (5, 2, 14, 0, 9, 11, 3, 15, 1, 7)]
    keys = [sel.register(s, EVENT_READ, i) for i, s in enumerate(order)]
    m = sel.get_map()
    assert list(m) == [s.fileno() for s in order]
    assert all(type(fd) is int for fd in m)
    assert list(m.values()) == keys
    assert all(a is b for a, b in zip(m.values(), keys))
    assert [fd for fd, _ in m.items()] == [s.fileno() for s in order]
    assert list(m.keys()) == list(m)
    # unregister from the middle then re-register: goes to the end
    sel.unregister(order[3])
    again = sel.register(order[3], EVENT_WRITE)
    expected = [s for s in order if s is not order[3]] + [order[3]]
    assert list(m) == [s.fileno() for s in expected]
    assert list(m.values())[-1] is again
    # data-only modify keeps the place
    sel.modify(order[0], EVENT_READ, "new")
    assert next(iter(m)) == order[0].fileno()


def test_iteration_order_many_fds(sel, socketpair):
    """Order is insertion order, not fd order, also past small-table sizes."""
    socks = [s for _ in range(150) for s in socketpair()]
    socks.reverse()
    for s in socks:
        sel.register(s, EVENT_READ)
    for s in socks[::3]:
        sel.unregister(s)
    for s in socks[::6]:
        sel.register(s, EVENT_WRITE)
    expected = [s.fileno() for i, s in enumerate(socks) if i % 3] + [
        s.fileno() for s in socks[::6]
    ]
    assert list(sel.get_map()) == expected
    assert [k.fd for k in sel.get_map().values()] == expected


def test_getitem_get_contains(sel, socketpair):
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_BOTH)
    m = sel.get_map()
    alias = FilenoObj(rd.fileno())
    assert m[alias] is key
    assert m.get(rd) is key
    assert m.get(rd, "default") is key
    assert m.get(wr) is None
    assert m.get(wr, "default") == "default"
    assert m.get(999999) is None
    assert wr not in m and 999999 not in m
    for obj in (wr, wr.fileno(), 999999):
        exc = raised(m.__getitem__, obj)
        assert type(exc) is KeyError
        assert exc.args == (f"{obj!r} is not registered",)


def test_invalid_objects_raise_valueerror(sel, socketpair):
    """`in` and `get` only swallow KeyError: an invalid file object is a ValueError."""
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    m = sel.get_map()
    for obj in (object(), "x", None, 1.5, FilenoObj("junk")):
        for call in (m.__contains__, m.get, m.__getitem__):
            exc = raised(call, obj)
            assert type(exc) is ValueError
            assert exc.args == (f"Invalid file object: {obj!r}",)
    for call in (lambda: -1 in m, lambda: m.get(-3), lambda: m[-2]):
        exc = raised(call)
        assert type(exc) is ValueError
        assert exc.args[0].startswith("Invalid file descriptor: -")


def test_read_only(sel, socketpair):
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ)
    m = sel.get_map()
    def delete(obj):
        del m[obj]

    def assign(obj, value):
        m[obj] = value

    for call in (lambda: delete(rd), lambda: assign(wr, key), lambda: assign(rd, key)):
        assert type(raised(call)) is TypeError
    for name in ("pop", "popitem", "clear", "update", "setdefault"):
        assert not hasattr(m, name), name
    assert list(m.values()) == [key]


def test_del_item_typeerror(sel, socketpair):
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    m = sel.get_map()
    try:
        del m[rd]
    except TypeError:
        pass
    else:
        raise AssertionError("del on the map view must raise TypeError")
    assert rd in m


def test_mapping_equality_and_views(sel, socketpair):
    rd, wr = socketpair()
    k1 = sel.register(rd, EVENT_READ)
    k2 = sel.register(wr, EVENT_WRITE)
    m = sel.get_map()
    assert m == {rd.fileno(): k1, wr.fileno(): k2}
    assert dict(m) == {rd.fileno(): k1, wr.fileno(): k2}
    assert dict(m.items()) == {rd.fileno(): k1, wr.fileno(): k2}
    assert m != {rd.fileno(): k1}
    assert set(m.keys()) == {rd.fileno(), wr.fileno()}
    assert k1 in m.values() and (wr.fileno(), k2) in m.items()
    assert isinstance(m.keys(), collections.abc.KeysView)
    assert isinstance(m.values(), collections.abc.ValuesView)
    assert isinstance(m.items(), collections.abc.ItemsView)
    assert len(m.values()) == 2 and len(m.items()) == 2


def test_view_after_close(selector_class, socketpair):
    rd, wr = socketpair()
    sel = selector_class()
    sel.register(rd, EVENT_READ)
    sel.register(wr, EVENT_WRITE)
    m = sel.get_map()
    sel.close()
    assert sel.get_map() is None
    assert len(m) == 0
    assert not m
    assert list(m) == []
    assert list(m.values()) == []
    assert m.get(rd) is None
    assert m.get(rd, "d") == "d"
    assert rd not in m
    for obj in (rd, wr):
        exc = raised(m.__getitem__, obj)
        assert type(exc) is KeyError
        assert exc.args == (f"{obj!r} is not registered",)


def test_map_of_each_selector_is_its_own(selector_class, socketpair):
    rd, wr = socketpair()
    with selector_class() as a, selector_class() as b:
        a.register(rd, EVENT_READ)
        b.register(wr, EVENT_WRITE)
        assert list(a.get_map()) == [rd.fileno()]
        assert list(b.get_map()) == [wr.fileno()]
