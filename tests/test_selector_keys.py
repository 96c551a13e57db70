"""The keys rselectors returns are indistinguishable from the stdlib's own ``SelectorKey``
instances: same class, equality, hash, pickling, ``_replace``, ``_asdict``, repr, GC
tracking, and no reference leaked or lost however many are made.

They are built natively (src/python/ffi.rs: the type's allocator and four stores; on CPython
3.14+ also the tuple's hash cache, which a zero-filled allocation would give as "hash 0"), so
every path that makes a key is compared here with the stdlib making the same key: register,
modify of events, modify of data (in place and re-inserting backends).
"""

import copy
import gc
import pickle
import selectors as stdlib
import sys

import pytest
from _support import EVENT_READ, EVENT_WRITE, stdlib_class


class Data:
    """Hashable, comparable by value, picklable (module level)."""

    def __init__(self, n):
        self.n = n

    def __eq__(self, other):
        return isinstance(other, Data) and other.n == self.n

    def __hash__(self):
        return hash(("Data", self.n))

    def __repr__(self):
        return f"Data({self.n})"


def pairs_of_keys(sel, std, fd):
    """The keys each selector returns for the same calls on the same fd (an int, so that
    pickling works), paired."""
    made = [(sel.register(fd, EVENT_READ, Data(1)), std.register(fd, EVENT_READ, Data(1)))]
    made.append((sel.modify(fd, EVENT_READ | EVENT_WRITE, Data(1)),
                 std.modify(fd, EVENT_READ | EVENT_WRITE, Data(1))))
    made.append((sel.modify(fd, EVENT_READ | EVENT_WRITE, Data(2)),
                 std.modify(fd, EVENT_READ | EVENT_WRITE, Data(2))))
    made.append((sel.get_key(fd), std.get_key(fd)))
    made.append((sel.unregister(fd), std.unregister(fd)))
    return made


def test_keys_are_the_stdlibs(sel, socketpair):
    std = stdlib_class(type(sel))()
    try:
        a, _ = socketpair()
        for ours, theirs in pairs_of_keys(sel, std, a.fileno()):
            assert type(ours) is stdlib.SelectorKey
            assert ours == theirs
            assert (ours != theirs) is False
            assert hash(ours) == hash(theirs) == hash(tuple(theirs))
            assert repr(ours) == repr(theirs)
            assert len(ours) == 4 and tuple(ours) == tuple(theirs)
            assert ours._asdict() == theirs._asdict()
            assert ours._replace(data=None) == theirs._replace(data=None)
            assert pickle.loads(pickle.dumps(ours)) == theirs
            assert copy.copy(ours) == copy.deepcopy(ours) == theirs
            assert gc.is_tracked(ours) == gc.is_tracked(theirs)
            assert not hasattr(ours, "__dict__")
            assert {ours: 1}[theirs] == 1  # the same dict slot
    finally:
        std.close()


def test_hash_is_computed_not_cached_as_zero(sel, socketpair):
    """A key whose hash cache (CPython 3.14+) were left zeroed would hash to 0."""
    fd = socketpair()[0].fileno()
    key = sel.register(fd, EVENT_READ, "x")
    assert hash(key) == hash((fd, fd, EVENT_READ, "x")) != 0
    assert hash(key) == hash(key)  # cached now, still right
    sel.unregister(fd)


def test_no_reference_leaked_or_lost(sel, socketpair):
    a, _ = socketpair()
    data = Data(5)
    gc.collect()
    before = (sys.getrefcount(a), sys.getrefcount(data))
    for _ in range(10_000):
        sel.register(a, EVENT_READ, data)
        sel.modify(a, EVENT_WRITE, data)
        sel.modify(a, EVENT_WRITE, data)
        key = sel.get_key(a)
        assert key.fileobj is a and key.data is data
        del key
        sel.unregister(a)
    gc.collect()
    assert (sys.getrefcount(a), sys.getrefcount(data)) == before


def test_keys_in_select_results(sel, socketpair):
    a, b = socketpair()
    key = sel.register(a, EVENT_READ | EVENT_WRITE, "a")
    b.send(b"x")
    ((got, events),) = sel.select(0)
    assert got is key and type(got) is stdlib.SelectorKey and events == 3
    assert got == stdlib.SelectorKey(a, a.fileno(), EVENT_READ | EVENT_WRITE, "a")


@pytest.mark.parametrize("count", [1, 100])
def test_keys_survive_collections_during_construction(sel, socketpair, count):
    """Keys made while the collector runs often (gen-0 threshold 1) stay whole."""
    fds = [socketpair()[0].fileno() for _ in range(3)]
    old = gc.get_threshold()
    gc.set_threshold(1)
    try:
        for i in range(count):
            fd = fds[i % 3]
            key = sel.register(fd, EVENT_READ, [i])
            # the young generation, where the new key is (a full collection would walk the
            # whole test session's heap for each key)
            gc.collect(0)
            assert key.data == [i] and key.fd == fd
            sel.unregister(fd)
    finally:
        gc.set_threshold(*old)
