"""rselectors' events beyond the stdlib's two: ``EVENT_PRIORITY`` and ``EVENT_HANGUP``.

On real sources: TCP urgent (out-of-band) data for priority, a TCP peer's
``shutdown(SHUT_WR)`` for a hang-up seen without a read, and ``/proc/self/mounts`` in a
private mount namespace (the kernel raises ``POLLPRI`` on it when a mount changes) for the
``POLLPRI`` notifications of proc, sysfs and cgroup files. Each class accepts what its
backend's kernel interface has and refuses the rest with the same ``ValueError``; masks made
of ``EVENT_READ`` and ``EVENT_WRITE`` report exactly what the stdlib reports.
"""

import enum
import json
import selectors as stdlib
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from _support import (
    CLASS_NAMES,
    EVENT_BOTH,
    EVENT_READ,
    EVENT_WRITE,
    IS_STDLIB,
    TARGET,
    kind,
    raised,
    stdlib_class,
    tcp_pair,
)

pytestmark = pytest.mark.skipif(IS_STDLIB, reason="rselectors' own events (not in the stdlib)")

PRIORITY = getattr(TARGET, "EVENT_PRIORITY", 16)
HANGUP = getattr(TARGET, "EVENT_HANGUP", 32)
LINUX = sys.platform.startswith("linux")

#: What each class waits for beyond READ and WRITE (its kernel interface's events): priority
#: alone, hang-up alone, hang-up together with EVENT_READ (kqueue: EV_EOF is a flag of the
#: read filter).
SUPPORT = {
    "EpollSelector": {"priority": True, "hangup": True, "hangup_with_read": True},
    "PollSelector": {"priority": True, "hangup": LINUX, "hangup_with_read": LINUX},
    "SelectSelector": {"priority": True, "hangup": False, "hangup_with_read": False},
    "KqueueSelector": {"priority": False, "hangup": False, "hangup_with_read": True},
    "DevpollSelector": {"priority": True, "hangup": False, "hangup_with_read": False},
}


def supports(cls, events):
    """Whether a selector of ``cls`` accepts ``events``, from the table above."""
    s = SUPPORT[kind(cls)]
    if events & PRIORITY and not s["priority"]:
        return False
    if events & HANGUP:
        return s["hangup"] or (s["hangup_with_read"] and bool(events & EVENT_READ))
    return True


@pytest.fixture
def pairs():
    """Factory of tcp_pair()s, all closed at teardown."""
    made = []

    def make():
        pair = tcp_pair()
        made.extend(pair)
        return pair

    yield make
    for s in made:
        s.close()


def results(sel, timeout=0):
    """select()'s results as (data, events) pairs."""
    return [(key.data, events) for key, events in sel.select(timeout)]


def settle():
    """Lets the loopback deliver what was just sent."""
    time.sleep(0.02)


def test_values_are_bits_of_their_own():
    assert (PRIORITY, HANGUP) == (16, 32)
    for value in (PRIORITY, HANGUP):
        # Neither the stdlib's bits nor the next two, which a future stdlib would take.
        assert value & (EVENT_BOTH | 4 | 8) == 0
        assert type(value) is int
    assert PRIORITY & HANGUP == 0
    assert {"EVENT_PRIORITY", "EVENT_HANGUP"} <= set(TARGET.__all__)
    # A stdlib selector refuses them loudly.
    for name in CLASS_NAMES:
        with getattr(stdlib, name)() as theirs, socket.socket() as s:
            for value in (PRIORITY, HANGUP, EVENT_READ | PRIORITY):
                exc = raised(theirs.register, s, value)
                assert type(exc) is ValueError and exc.args == (f"Invalid events: {value}",)


@pytest.mark.parametrize("events", [4, 8, 5, 7, 64, 128, 16 | 4, 32 | 8, 999999, -1, 2**70])
def test_other_bits_stay_invalid_with_the_stdlibs_error(sel, std_sel, pairs, events):
    a, _ = pairs()
    expected = raised(std_sel.register, a, events)
    exc = raised(sel.register, a, events)
    assert type(exc) is type(expected) is ValueError
    assert exc.args == expected.args == (f"Invalid events: {events!r}",)
    assert len(sel.get_map()) == 0


@pytest.mark.parametrize(
    "events",
    [PRIORITY, HANGUP, EVENT_READ | HANGUP, PRIORITY | HANGUP, EVENT_BOTH | PRIORITY | HANGUP],
    ids=repr,
)
def test_each_class_accepts_what_its_kernel_has(sel, pairs, events):
    a, _ = pairs()
    if supports(type(sel), events):
        key = sel.register(a, events, "x")
        assert key.events == events and sel.get_key(a) is key
        sel.unregister(a)
    else:
        exc = raised(sel.register, a, events)
        assert type(exc) is ValueError, exc
        (message,) = exc.args
        assert message.startswith(f"Invalid events: {events!r} (the "), message
        assert message.endswith(")"), message
        assert len(sel.get_map()) == 0
    # modify: refused the same way, with the registration left as it was.
    key = sel.register(a, EVENT_READ, "kept")
    if supports(type(sel), events):
        assert sel.modify(a, events, "new").events == events
    else:
        exc = raised(sel.modify, a, events, "new")
        assert type(exc) is ValueError and exc.args[0].startswith(f"Invalid events: {events!r} (")
        assert sel.get_key(a) is key


def test_out_of_band_data_is_priority(sel, pairs):
    a, b = pairs()
    if not supports(type(sel), PRIORITY):
        pytest.skip(f"{kind(type(sel))} cannot wait for priority data (the kernel has none)")
    key = sel.register(a, EVENT_READ | PRIORITY, "rp")
    b.send(b"!", socket.MSG_OOB)
    # Urgent data alone: priority, and not readable (the byte is out of the stream).
    assert results(sel, 1) == [("rp", PRIORITY)]
    assert a.recv(1, socket.MSG_OOB) == b"!"
    assert results(sel) == []
    key = sel.modify(a, PRIORITY, "p")
    b.send(b"ordinary")
    settle()
    assert results(sel) == []  # ordinary data is not priority data
    b.send(b"!", socket.MSG_OOB)
    assert results(sel, 1) == [("p", PRIORITY)]
    assert results(sel) == [("p", PRIORITY)]  # level-triggered: until it is read
    assert a.recv(1, socket.MSG_OOB) == b"!"
    assert results(sel) == []
    # With EVENT_READ: one result carrying both; without PRIORITY any more: READ alone.
    sel.modify(a, EVENT_READ | PRIORITY, "rp")
    b.send(b"!", socket.MSG_OOB)
    settle()
    assert results(sel, 1) == [("rp", EVENT_READ | PRIORITY)]
    assert sel.modify(a, EVENT_READ, "r") is not key
    assert results(sel) == [("r", EVENT_READ)]


def test_a_peers_shutdown_is_a_hangup_seen_without_a_read(sel, pairs):
    a, b = pairs()
    if not supports(type(sel), HANGUP | EVENT_READ):
        pytest.skip(f"{kind(type(sel))} cannot wait for hang-ups (the kernel has none)")
    alone = supports(type(sel), HANGUP)
    sel.register(a, HANGUP if alone else HANGUP | EVENT_READ, "h")
    if alone:
        b.send(b"unread")
        settle()
        assert results(sel) == []  # data does not wake a hang-up registration
    b.shutdown(socket.SHUT_WR)
    expected = HANGUP if alone else HANGUP | EVENT_READ
    assert results(sel, 1) == [("h", expected)]
    assert results(sel) == [("h", expected)]  # level-triggered
    sel.modify(a, EVENT_READ | HANGUP, "rh")
    assert results(sel) == [("rh", EVENT_READ | HANGUP)]
    if supports(type(sel), EVENT_WRITE | HANGUP):
        # Our side can still write; the peer's shutdown adds its own bit only.
        sel.modify(a, EVENT_WRITE | HANGUP, "wh")
        assert results(sel) == [("wh", EVENT_WRITE | HANGUP)]
    # The stdlib's two alone: the hang-up reads as EVENT_READ, as there.
    sel.modify(a, EVENT_READ, "r")
    assert results(sel) == [("r", EVENT_READ)]


@pytest.mark.parametrize("scenario", ["urgent data", "shutdown", "close"])
@pytest.mark.parametrize("events", [EVENT_READ, EVENT_WRITE, EVENT_BOTH], ids=repr)
def test_read_write_results_are_the_stdlibs(selector_class, events, scenario):
    """What the new kernel conditions look like to a READ/WRITE registration: the same as
    to the stdlib's selector of the same kind, in the same situation."""
    got = {}
    for cls in (selector_class, stdlib_class(selector_class)):
        a, b = tcp_pair()
        with cls() as s:
            s.register(a, events)
            if scenario == "urgent data":
                b.send(b"!", socket.MSG_OOB)
            elif scenario == "shutdown":
                b.shutdown(socket.SHUT_WR)
            else:
                b.close()
            settle()
            got[cls] = [[ev for _key, ev in s.select(0)] for _ in range(2)]
        a.close()
        b.close()
    ours, theirs = got.values()
    assert ours == theirs


def test_intflag_masks(sel, pairs):
    class Ev(enum.IntFlag):
        READ = 1
        WRITE = 2
        PRIORITY = 16

    a, b = pairs()
    if not supports(type(sel), PRIORITY):
        pytest.skip(f"{kind(type(sel))} cannot wait for priority data")
    key = sel.register(a, Ev.READ | Ev.PRIORITY)
    assert key.events is not None and key.events == 17
    b.send(b"data")
    b.send(b"!", socket.MSG_OOB)
    settle()
    ((got, events),) = sel.select(1)
    assert got is key and events == EVENT_READ | PRIORITY and type(events) is int


# --- a POLLPRI file: /proc/self/mounts -------------------------------------------------------

_MOUNTS_CHILD = textwrap.dedent(
    r"""
    import ctypes, json, os, sys, tempfile
    import rselectors
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x00020000, 0x4000, 0x40000
    if libc.unshare(CLONE_NEWNS) != 0:
        print(json.dumps({"skip": "unshare(CLONE_NEWNS): " + os.strerror(ctypes.get_errno())}))
        sys.exit(0)
    # Private, so that nothing this namespace mounts reaches the machine's.
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        print(json.dumps({"skip": "mount --make-rprivate /: " + os.strerror(ctypes.get_errno())}))
        sys.exit(0)
    out = {}
    with tempfile.TemporaryDirectory() as where:
        for name in sys.argv[1:]:
            with open("/proc/self/mounts") as f, getattr(rselectors, name)() as sel:
                sel.register(f, rselectors.EVENT_PRIORITY, "mounts")
                before = [(k.data, ev) for k, ev in sel.select(0)]
                if libc.mount(b"none", where.encode(), b"tmpfs", 0, None) != 0:
                    out["skip"] = "mount tmpfs: " + os.strerror(ctypes.get_errno())
                    break
                after = [(k.data, ev) for k, ev in sel.select(2)]
                libc.umount2(where.encode(), 0)
                out[name] = [before, after]
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not LINUX, reason="/proc/self/mounts and mount namespaces are Linux's")
def test_a_mount_change_is_priority_on_proc_self_mounts():
    """The kernel raises POLLPRI (with POLLERR) on /proc/self/mounts when a mount of the
    process's namespace changes, once per change: the POLLPRI notification of proc, sysfs
    (sysfs_notify) and cgroup (cgroup.events) files. A child in a private mount namespace
    mounts a tmpfs (root, or an unprivileged user namespace, is needed)."""
    names = [n for n in CLASS_NAMES if SUPPORT[n]["priority"]]
    proc = subprocess.run(
        [sys.executable, "-c", _MOUNTS_CHILD, *names],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    if "skip" in out:
        pytest.skip(f"cannot change mounts here: {out['skip']}")
    for name in names:
        before, after = out[name]
        assert before == [], name
        assert after == [["mounts", PRIORITY]], name

