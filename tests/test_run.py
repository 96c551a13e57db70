"""``rselectors.run()``: ``asyncio.run()``'s documented behaviour, on rselectors' event loop.

Every behaviour test runs twice: with ``asyncio.run`` itself (the reference: it validates the
test) and with ``rselectors.run``. Then what ``rselectors.run`` adds: the loop is rselectors'
(woken through ``wakeup()``), ``loop_factory`` is checked, importing rselectors does not
import asyncio, and ``benches/asyncio_routes.py`` runs and sees each route's loop and wake-up as
the README describes them. ``tests/test_wheels.py`` runs this file on every CPython found on the
machine.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest
from _support import (
    IS_STDLIB,
    needs_posix_signals,
    needs_selector,
    needs_selector_default_loop,
    popen_with_terminal_sigint,
)

pytestmark = pytest.mark.timeout(60)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if not IS_STDLIB:
    import rselectors

RUNNERS = {"asyncio.run": asyncio.run}
if not IS_STDLIB:
    RUNNERS["rselectors.run"] = rselectors.run

only_rselectors = pytest.mark.skipif(IS_STDLIB, reason="rselectors.run (not in the stdlib)")

# What asyncio.run() raises for an argument that is not a coroutine: 3.14 accepts any
# awaitable and rejects the rest with TypeError; before, anything but a coroutine was a
# ValueError.
if sys.version_info >= (3, 14):
    NOT_A_COROUTINE = (TypeError, "An asyncio.Future, a coroutine or an awaitable is required")
else:
    NOT_A_COROUTINE = (ValueError, "a coroutine was expected, got 42")


@pytest.fixture(params=list(RUNNERS))
def runner_name(request):
    return request.param


@pytest.fixture
def runner(runner_name):
    return RUNNERS[runner_name]


def test_returns_the_result(runner):
    async def main(x):
        await asyncio.sleep(0)
        return x * 2

    assert runner(main(21)) == 42


def test_exception_propagates_and_the_loop_is_closed(runner):
    error = ValueError("boom")
    loops = []

    async def main():
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        raise error

    with pytest.raises(ValueError) as info:
        runner(main())
    assert info.value is error
    assert loops[0].is_closed()


def test_leftover_tasks_are_cancelled_and_awaited(runner):
    events = []
    tasks = []

    async def background():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            events.append("cancelled")
            await asyncio.sleep(0)  # the runner waits for the cancelled task to finish
            events.append("finished")
            raise

    async def main():
        tasks.append(asyncio.ensure_future(background()))
        await asyncio.sleep(0)
        return "done"

    assert runner(main()) == "done"
    assert events == ["cancelled", "finished"]
    assert tasks[0].cancelled()


def test_exception_of_a_cancelled_leftover_task_is_reported(runner):
    reported = []

    async def refuses():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise LookupError("refused to stop") from None

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: reported.append(ctx))
        asyncio.ensure_future(refuses())
        await asyncio.sleep(0)

    runner(main())
    assert [ctx["message"] for ctx in reported] == [
        "unhandled exception during asyncio.run() shutdown"
    ]
    assert type(reported[0]["exception"]) is LookupError


def test_async_generators_are_finalized(runner):
    closed = []
    alive = []  # keeps the generator referenced: only the runner's shutdown can close it

    async def ticks():
        try:
            while True:
                yield 1
        finally:
            closed.append(True)

    async def main():
        agen = ticks()
        alive.append(agen)
        return await agen.__anext__()

    assert runner(main()) == 1
    assert closed == [True]


def test_default_executor_is_shut_down(runner):
    async def main():
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, threading.current_thread)

    worker = runner(main())
    assert worker is not threading.current_thread()
    assert not worker.is_alive()  # joined before run() returned


def test_nested_call_raises_runtime_error(runner):
    async def inner():
        return "never"

    async def main():
        coro = inner()
        try:
            with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
                runner(coro)
        finally:
            coro.close()
        return "the outer run goes on"

    assert runner(main()) == "the outer run goes on"


def test_not_a_coroutine_raises_asyncio_runs_error(runner):
    error, message = NOT_A_COROUTINE
    with pytest.raises(error, match=message):
        runner(42)


@pytest.mark.parametrize("env_debug", ["", "1"], ids=["env-off", "PYTHONASYNCIODEBUG=1"])
@pytest.mark.parametrize("debug", [True, False, None])
def test_debug_flag(runner, debug, env_debug, monkeypatch):
    """debug=True/False sets the loop's debug mode; None keeps the loop's default (which
    PYTHONASYNCIODEBUG sets when the loop is made)."""
    if env_debug and sys.flags.ignore_environment:
        pytest.skip("this interpreter ignores PYTHON* variables (-E, or the Windows embeddable "
                    "build's isolated mode)")
    monkeypatch.setenv("PYTHONASYNCIODEBUG", env_debug)

    async def main():
        return asyncio.get_running_loop().get_debug()

    default = bool(env_debug) or sys.flags.dev_mode
    assert runner(main(), debug=debug) is (default if debug is None else debug)


CTRL_C_CHILD = """
import asyncio, sys
run = asyncio.run if sys.argv[1] == "asyncio.run" else __import__("rselectors").run
loops = []

async def main():
    loops.append(asyncio.get_running_loop())
    print("ready", flush=True)
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        print("main cancelled", flush=True)
        raise

try:
    run(main())
except KeyboardInterrupt:
    loop = loops[0]
    print("KeyboardInterrupt", type(loop).__module__, "closed" if loop.is_closed() else "open")
"""


@needs_posix_signals
def test_ctrl_c_raises_keyboard_interrupt(runner_name):
    """Ctrl-C while the loop is idle: the main task is cancelled, KeyboardInterrupt raised from
    the runner, the loop closed. The child starts with SIGINT's default disposition, as a
    terminal gives it (a background CI job may have SIGINT ignored)."""
    proc = popen_with_terminal_sigint(
        [sys.executable, "-c", CTRL_C_CHILD, runner_name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        time.sleep(0.1)  # let the loop block in select()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert time.monotonic() - t0 < 20
    module = "rselectors" if runner_name == "rselectors.run" else "asyncio.unix_events"
    assert out.splitlines() == ["main cancelled", f"KeyboardInterrupt {module} closed"], err
    assert proc.returncode == 0, err


def _policy_loop_after(run_it):
    """(the policy's loop seen inside main, and after the run) with ``before`` set as the
    current loop beforehand; ``None`` when getting it raises RuntimeError (none set)."""
    with warnings.catch_warnings():  # the policy system is deprecated from 3.14 on
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = asyncio.get_event_loop_policy()

    def current():
        try:
            return policy.get_event_loop()
        except RuntimeError:
            return None

    seen = []

    async def main():
        seen.append((asyncio.get_running_loop(), current()))

    before = asyncio.new_event_loop()
    asyncio.set_event_loop(before)
    try:
        run_it(main())
        after = current()
    finally:
        asyncio.set_event_loop(None)
        before.close()
    (running, inside) = seen[0]
    return before, running, inside, after


def _stdlib_run_with_loop_factory(main):
    """What the stdlib does given a loop factory; 3.9 and 3.10 have none: plain asyncio.run."""
    if sys.version_info >= (3, 12):
        return asyncio.run(main, loop_factory=asyncio.new_event_loop)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as r:
            return r.run(main)
    return asyncio.run(main)


@pytest.mark.parametrize(
    "run_it",
    [
        _stdlib_run_with_loop_factory,
        pytest.param(lambda main: rselectors.run(main), marks=only_rselectors),
    ],
    ids=["stdlib-with-loop-factory", "rselectors.run"],
)
def test_current_event_loop_as_asyncio_run_with_a_loop_factory(run_it):
    """3.9/3.10: the loop is the thread's current event loop during the run and none is set
    after it (as their asyncio.run); 3.11+: the current loop is left alone (as asyncio.run and
    Runner with a loop_factory)."""
    before, running, inside, after = _policy_loop_after(run_it)
    if sys.version_info < (3, 11):
        assert (inside, after) == (running, None)
    else:
        assert (inside, after) == (before, before)


# -- what rselectors.run adds ---------------------------------------------------------------


@only_rselectors
def test_runs_on_rselectors_loop_woken_by_wakeup():
    async def main():
        loop = asyncio.get_running_loop()
        # An idle loop (nothing scheduled) woken only by another thread's call.
        fut = loop.create_future()
        threading.Timer(0.02, loop.call_soon_threadsafe, (fut.set_result, "woken")).start()
        return loop, type(loop._selector), loop._write_to_self == loop._selector.wakeup, await fut

    loop, selector_class, wakes_with_wakeup, woken = rselectors.run(main())
    assert type(loop) is rselectors.SelectorEventLoop
    assert selector_class is rselectors.DefaultSelector
    assert wakes_with_wakeup and woken == "woken"


@needs_selector("PollSelector")
@only_rselectors
def test_loop_factory_chooses_the_loop():
    made = []

    def poll_loop():
        made.append(rselectors.SelectorEventLoop(rselectors.PollSelector()))
        return made[-1]

    async def main():
        return type(asyncio.get_running_loop()._selector)

    assert rselectors.run(main(), loop_factory=poll_loop) is rselectors.PollSelector
    assert len(made) == 1 and made[0].is_closed()


@only_rselectors
def test_loop_factory_must_make_an_rselectors_loop():
    made = []

    def stdlib_loop():
        made.append(asyncio.SelectorEventLoop())
        return made[-1]

    async def main():
        return "never"

    coro = main()
    with pytest.raises(TypeError, match="needs a loop_factory returning an rselectors"):
        rselectors.run(coro, loop_factory=stdlib_loop)
    coro.close()
    assert len(made) == 1 and made[0].is_closed()


@only_rselectors
def test_no_loop_is_made_or_left_open_on_misuse():
    """A nested call makes no loop; a non-coroutine leaves none open."""
    made = []

    def factory():
        made.append(rselectors.new_event_loop())
        return made[-1]

    async def inner():
        return "never"

    async def main():
        coro = inner()
        with pytest.raises(RuntimeError):
            rselectors.run(coro, loop_factory=factory)
        coro.close()

    rselectors.run(main())
    assert made == []
    with pytest.raises(NOT_A_COROUTINE[0]):
        rselectors.run(42, loop_factory=factory)
    assert all(loop.is_closed() for loop in made)


@only_rselectors
def test_importing_rselectors_does_not_import_asyncio():
    code = textwrap.dedent(
        """
        import sys
        import rselectors
        assert "asyncio" not in sys.modules, "import rselectors imported asyncio"
        assert "run" in rselectors.__all__ and "WakeableSelector" in rselectors.__all__
        run = rselectors.run
        assert "asyncio" in sys.modules and run.__module__ == "rselectors._asyncio"
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr


@needs_selector_default_loop
@only_rselectors
def test_routes_benchmark_runs_and_reports_each_routes_wake_up(tmp_path):
    """benches/asyncio_routes.py (the README's asyncio figures) runs, and each route runs on the
    loop and wake-up the README says it does."""
    out = tmp_path / "routes.json"
    script = os.path.join(ROOT, "benches", "asyncio_routes.py")
    args = ["--quick", "--runs", "1", "--no-progress", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, timeout=50, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "rselectors.run" in proc.stdout and "total wall" in proc.stdout
    ran_on = json.loads(out.read_text())["ran_on"]
    ours = f"rselectors.{rselectors.DefaultSelector.__name__}"
    expected = {
        "asyncio.run": ("asyncio.", "selectors.", "self-pipe"),
        "rselectors.run": ("rselectors.SelectorEventLoop", ours, "wakeup()"),
        "EventLoopPolicy": ("rselectors.SelectorEventLoop", ours, "wakeup()"),
        "install()": ("asyncio.", ours, "self-pipe"),
        "SelectorEventLoop(DefaultSelector())": ("asyncio.", ours, "self-pipe"),
    }
    if sys.version_info >= (3, 11):
        expected["Runner(loop_factory)"] = expected["rselectors.run"]
    if sys.version_info >= (3, 12):
        expected["asyncio.run(loop_factory)"] = expected["rselectors.run"]
    assert ran_on.keys() == expected.keys()
    for route, (loop, selector, wake) in expected.items():
        got = ran_on[route]
        assert got["loop"].startswith(loop) and got["selector"].startswith(selector), (route, got)
        assert got["wake-up"] == wake, (route, got)
