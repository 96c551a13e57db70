"""``rselectors.install()`` / ``uninstall()``: what they reach and what they cannot.

Every test runs its scenario in a fresh interpreter, so a patch never leaks into this process
or into another test.
"""

import subprocess
import sys
import textwrap

import pytest
from _support import IS_STDLIB

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
