"""``rselectors.install()`` / ``uninstall()``: what they reach and what they cannot.

Every test runs its scenario in a fresh interpreter, so a patch never leaks into this process
or into another test.
"""

import importlib.util
import subprocess
import sys
import textwrap

import pytest
from _support import (
    IS_STDLIB,
    needs_selector_default_loop,
    needs_stdlib_sources,
)

pytestmark = [
    pytest.mark.skipif(IS_STDLIB, reason="rselectors.install() (not in the stdlib)"),
    pytest.mark.timeout(120),
]


def run_py(code):
    """Run ``code`` in a fresh interpreter; fail with its stderr unless it exits 0."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_install_patches_default_selector():
    run_py(
        """
        import selectors
        import rselectors

        original = selectors.DefaultSelector
        assert original.__module__ == "selectors"
        rselectors.install()
        assert selectors.DefaultSelector is rselectors.DefaultSelector
        sel = selectors.DefaultSelector()
        assert type(sel) is rselectors.DefaultSelector
        assert isinstance(sel, selectors.BaseSelector)
        sel.close()
        # Only DefaultSelector: the stdlib's concrete classes are untouched.
        for name in ("PollSelector", "SelectSelector", "EpollSelector", "BaseSelector"):
            if hasattr(selectors, name):
                assert getattr(selectors, name).__module__ == "selectors", name
        rselectors.install()  # idempotent
        rselectors.uninstall()
        assert selectors.DefaultSelector is original
        rselectors.uninstall()  # idempotent
        assert selectors.DefaultSelector is original
        rselectors.install()  # and again after an uninstall
        assert selectors.DefaultSelector is rselectors.DefaultSelector
        """
    )


@needs_selector_default_loop
def test_install_patches_exactly_one_attribute_and_not_the_loop():
    """install() changes selectors.DefaultSelector and nothing else: no other attribute of
    selectors or asyncio, not the event loop policy; so asyncio's default loop gets our
    selector but stays asyncio's class, woken through its self-pipe (rselectors.run() is the
    route to the wakeup() loop)."""
    run_py(
        """
        import asyncio
        import selectors
        import sys
        import rselectors

        def snapshot():
            asyncio_modules = [m for n, m in sys.modules.items() if n.startswith("asyncio")]
            return {
                (mod.__name__, name): value
                for mod in (selectors, *asyncio_modules)
                for name, value in vars(mod).items()
            }

        policy = asyncio.get_event_loop_policy()
        before = snapshot()
        rselectors.install()
        after = snapshot()
        changed = {k for k in before.keys() | after.keys() if before.get(k) is not after.get(k)}
        assert changed == {("selectors", "DefaultSelector")}, changed
        assert asyncio.get_event_loop_policy() is policy
        assert type(policy).__module__.startswith("asyncio."), policy

        async def which():
            loop = asyncio.get_running_loop()
            return type(loop), type(loop._selector), "_write_to_self" in vars(loop)

        loop_class, selector_class, wakeup_patched = asyncio.run(which())
        assert loop_class.__module__.startswith("asyncio."), loop_class
        assert selector_class is rselectors.DefaultSelector, selector_class
        assert not wakeup_patched  # asyncio's own _write_to_self: the self-pipe
        rselectors.uninstall()
        """
    )


def test_uninstall_without_install_is_a_no_op():
    run_py(
        """
        import selectors
        import rselectors

        original = selectors.DefaultSelector
        rselectors.uninstall()
        assert selectors.DefaultSelector is original
        """
    )


def test_uninstall_leaves_a_later_replacement_alone():
    run_py(
        """
        import selectors
        import rselectors

        rselectors.install()
        class Other(selectors.SelectSelector):
            pass
        selectors.DefaultSelector = Other  # someone else patches after us
        rselectors.uninstall()
        assert selectors.DefaultSelector is Other
        """
    )


@needs_selector_default_loop
def test_asyncio_default_loop_gets_our_selector():
    """asyncio.selector_events looks up selectors.DefaultSelector at loop creation."""
    run_py(
        """
        import asyncio
        import selectors
        import rselectors

        before = asyncio.new_event_loop()  # created before install: keeps the stdlib's
        rselectors.install()
        after = asyncio.new_event_loop()
        assert type(before._selector).__module__ == "selectors", before._selector
        assert type(after._selector) is rselectors.DefaultSelector, after._selector
        before.close()
        after.close()

        async def main():
            await asyncio.sleep(0.001)
            reader, writer = await asyncio.open_connection(*server_addr)
            writer.write(b"ping\\n")
            line = await reader.readline()
            writer.close()
            return type(asyncio.get_running_loop()._selector), line

        async def serve():
            global server_addr
            async def handle(r, w):
                w.write(await r.readline())
                await w.drain()
                w.close()
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            server_addr = server.sockets[0].getsockname()[:2]
            async with server:
                return await main()

        cls, line = asyncio.run(serve())
        assert cls is rselectors.DefaultSelector and line == b"ping\\n", (cls, line)

        rselectors.uninstall()
        loop = asyncio.new_event_loop()
        assert type(loop._selector).__module__ == "selectors"
        loop.close()
        """
    )


def test_names_bound_before_install_are_not_reached():
    run_py(
        """
        from selectors import DefaultSelector as bound_early
        import selectors
        import rselectors

        rselectors.install()
        assert bound_early.__module__ == "selectors"
        sel = bound_early()
        assert type(sel).__module__ == "selectors"
        sel.close()
        """
    )


@pytest.mark.skipif(
    not hasattr(subprocess, "_PopenSelector"),
    reason="subprocess, socketserver and multiprocessing bind a selector class on POSIX only",
)
@pytest.mark.parametrize("import_first", [True, False], ids=["imported-before", "imported-after"])
def test_modules_binding_a_class_at_import_are_not_reached(import_first):
    """subprocess, socketserver and multiprocessing.connection bind PollSelector (or
    SelectSelector) at import; install() changes neither those names nor the classes."""
    run_py(
        f"""
        import selectors
        import rselectors

        if {import_first}:
            import multiprocessing.connection, socketserver, subprocess
        rselectors.install()
        import multiprocessing.connection, socketserver, subprocess

        expected = selectors.PollSelector if hasattr(selectors, "PollSelector") else selectors.SelectSelector
        assert expected.__module__ == "selectors"
        assert subprocess._PopenSelector is expected, subprocess._PopenSelector
        assert socketserver._ServerSelector is expected, socketserver._ServerSelector
        assert multiprocessing.connection._WaitSelector is expected

        # and they still work (communicate() with a timeout runs the _PopenSelector loop)
        p = subprocess.Popen(
            ["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = p.communicate(b"x" * 100000, timeout=30)
        assert out == b"x" * 100000 and p.returncode == 0
        """
    )


@needs_selector_default_loop
def test_existing_selectors_and_loops_keep_their_class():
    run_py(
        """
        import asyncio
        import selectors
        import rselectors

        sel = selectors.DefaultSelector()
        loop = asyncio.new_event_loop()
        rselectors.install()
        assert type(sel).__module__ == "selectors"
        assert type(loop._selector).__module__ == "selectors"
        assert loop.run_until_complete(asyncio.sleep(0, 5)) == 5
        loop.close()
        sel.close()
        """
    )


# --- monkey-patched processes (gevent, eventlet): install() refuses -----------------------------

#: The issue's repro (issue 27): a greenlet waits 1 s in selectors.DefaultSelector().select()
#: while another writes after 0.1 s. ``{install}`` is the install step; the waiter's
#: (elapsed, events) and the refusal's message are printed as JSON.
GREEN_REPRO = """
import json, selectors, socket, time
import rselectors
{patch}
before = (selectors.DefaultSelector, selectors.SelectSelector, getattr(selectors, "PollSelector", None))
try:
    {install}
    refusal = None
except RuntimeError as e:
    refusal = str(e)
unchanged = before == (selectors.DefaultSelector, selectors.SelectSelector, getattr(selectors, "PollSelector", None))
a, b = socket.socketpair()
def waiter():
    s = selectors.DefaultSelector(); s.register(a, selectors.EVENT_READ)
    t = time.monotonic(); r = s.select(1.0); return time.monotonic() - t, len(r)
def writer():
    {sleep}(0.1); b.send(b"x")
g = {spawn}(waiter); {spawn}(writer)
elapsed, events = {join}
print(json.dumps(dict(refusal=refusal, unchanged=unchanged, elapsed=elapsed, events=events,
                      default=f"{{selectors.DefaultSelector.__module__}}.{{selectors.DefaultSelector.__name__}}")))
"""

GREEN = {
    "gevent": {
        "patch": "from gevent import monkey; monkey.patch_all()\nimport gevent",
        "sleep": "gevent.sleep",
        "spawn": "gevent.spawn",
        "join": "g.get()",
    },
    "eventlet": {
        "patch": "import eventlet; eventlet.monkey_patch()",
        "sleep": "eventlet.sleep",
        "spawn": "eventlet.spawn",
        "join": "g.wait()",
    },
}


def _green(library):
    """Skip, saying why, where the library cannot be installed (pyproject's test extra has it
    for CPython, where PyPI has wheels of it or of greenlet)."""
    if importlib.util.find_spec(library) is None:  # (not imported here: it patches nothing)
        pytest.skip(f"{library} is not installed for Python {sys.version.split()[0]}; the "
                    f"test extra installs it where it can (pyproject.toml)")


def green_run(library, install, patch=None):
    import json

    _green(library)
    spec = dict(GREEN[library])
    if patch is not None:
        spec["patch"] = patch
    # (the stdout's last line: eventlet may print a deprecation notice before it)
    out = run_py(GREEN_REPRO.format(install=install, **spec))
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("library", list(GREEN))
def test_install_refuses_in_a_monkey_patched_process(library):
    """The issue's repro: install() raises, changes nothing, and the waiting greenlet gets the
    event after ~0.1 s while the other one runs (with install() done by hand instead, below,
    the hub freezes for the whole second and the event is missed)."""
    got = green_run(library, "rselectors.install()")
    assert got["refusal"] is not None, got
    assert got["unchanged"], got
    assert "rselectors.install() refused, nothing was changed" in got["refusal"], got
    assert "monkey-patched" in got["refusal"] and "greenlet" in got["refusal"], got
    assert "select.select is " in got["refusal"], got
    # what selectors.DefaultSelector holds: gevent's class; eventlet's copy of the stdlib's
    assert {
        "gevent": "selectors.DefaultSelector is gevent.selectors.GeventSelector",
        "eventlet": "selectors.DefaultSelector is selectors.SelectSelector from another copy "
                    "of the selectors module",
    }[library] in got["refusal"], got
    assert got["events"] == 1 and got["elapsed"] < 0.6, got


@pytest.mark.parametrize("library", list(GREEN))
def test_the_repro_freezes_the_hub_without_the_refusal(library):
    """The control: the same repro with selectors.DefaultSelector set to rselectors' by hand
    (what install() did before) blocks the hub: the writer never runs while the waiter
    waits, so the wait lasts the whole second and sees nothing."""
    got = green_run(library, "selectors.DefaultSelector = rselectors.DefaultSelector")
    assert got["refusal"] is None and not got["unchanged"], got
    assert got["default"].startswith("rselectors."), got
    assert got["events"] == 0 and got["elapsed"] >= 0.9, got


def test_install_refuses_when_only_select_is_patched():
    """gevent's patch_select() alone: select.select and select.poll are gevent's (and the
    stdlib's selectors pick them up), selectors.DefaultSelector may still be the stdlib's
    class; install() refuses all the same."""
    got = green_run("gevent", "rselectors.install()",
                    patch="from gevent import monkey; monkey.patch_select()\nimport gevent")
    assert got["refusal"] is not None and got["unchanged"], got
    assert "select.select is gevent.select.select" in got["refusal"], got


def test_uninstall_in_a_process_patched_after_install():
    """install() in a clean process, then gevent's patching: with patch_all() gevent replaces
    selectors.DefaultSelector, uninstall() leaves that alone and install() refuses; with
    patch_select() alone, selectors.DefaultSelector is still rselectors' and uninstall()
    refuses (putting back the stdlib's blocking class would not help the greenlets either)."""
    _green("gevent")
    run_py(
        """
        import selectors, subprocess, sys
        import rselectors
        rselectors.install()
        from gevent import monkey
        monkey.patch_select()
        assert selectors.DefaultSelector is rselectors.DefaultSelector
        try:
            rselectors.uninstall()
        except RuntimeError as e:
            assert "rselectors.uninstall() refused, nothing was changed" in str(e), e
            assert "gevent.monkey.patch_selectors()" in str(e), e
        else:
            raise AssertionError("uninstall() did not refuse")
        assert selectors.DefaultSelector is rselectors.DefaultSelector
        monkey.patch_all()
        gevents = selectors.DefaultSelector
        assert gevents.__module__ == "gevent.selectors", gevents
        rselectors.uninstall()  # not ours any more: nothing to undo
        try:
            rselectors.install()
        except RuntimeError:
            pass
        else:
            raise AssertionError("install() did not refuse")
        assert selectors.DefaultSelector is gevents
        """
    )


@needs_stdlib_sources
def test_what_counts_as_patched():
    """aiopg's workaround (a stdlib method assigned to another stdlib class) keeps the stdlib's
    objects: install() works. A class of another module in selectors.DefaultSelector, or a
    class of a copy of the selectors module executed with another module as its ``select``
    (how eventlet's patcher makes its green selectors; here the copy's select holds the real
    functions, so only where its functions were defined tells) are not the stdlib's own:
    install() refuses."""
    run_py(
        """
        import importlib.util, select, selectors, sys, types
        import rselectors
        selectors._PollLikeSelector.modify = selectors._BaseSelectorImpl.modify
        rselectors.install()
        assert selectors.DefaultSelector is rselectors.DefaultSelector
        rselectors.uninstall()

        class Mine(selectors.SelectSelector):
            pass
        selectors.DefaultSelector = Mine
        try:
            rselectors.install()
        except RuntimeError as e:
            assert "selectors.DefaultSelector is __main__.Mine" in str(e), e
        else:
            raise AssertionError("install() did not refuse")
        assert selectors.DefaultSelector is Mine

        other = types.ModuleType("other_select")
        vars(other).update({k: v for k, v in vars(select).items() if not k.startswith("__")})
        spec = importlib.util.spec_from_file_location("selectors", selectors.__file__)
        copy = importlib.util.module_from_spec(spec)
        sys.modules["select"] = other
        try:
            spec.loader.exec_module(copy)
        finally:
            sys.modules["select"] = select
        assert copy.select is other
        selectors.DefaultSelector = copy.DefaultSelector
        try:
            rselectors.install()
        except RuntimeError as e:
            assert "from another copy of the selectors module" in str(e), e
        else:
            raise AssertionError("install() did not refuse")
        assert selectors.DefaultSelector is copy.DefaultSelector
        """
    )
