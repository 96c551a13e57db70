"""asyncio on rselectors: ``run()``, an event loop class, a loop factory and an event loop policy.

``rselectors.run(main())`` runs a coroutine on ``new_event_loop()`` with ``asyncio.run()``'s
semantics on every supported Python. ``new_event_loop()`` returns a :class:`SelectorEventLoop`
on ``rselectors.DefaultSelector()``; it is also the loop factory for asyncio's own runners:

* 3.12+: ``asyncio.run(main(), loop_factory=rselectors.new_event_loop)``
* 3.11+: ``with asyncio.Runner(loop_factory=rselectors.new_event_loop) as r: r.run(main())``
* any version: ``asyncio.set_event_loop_policy(rselectors.EventLoopPolicy())``, then
  ``asyncio.run(main())`` (policies are deprecated from 3.14 on).

What the loop changes: cross-thread wake-ups (``call_soon_threadsafe``, which
``run_in_executor``, ``asyncio.to_thread``, ``run_coroutine_threadsafe`` and the subprocess child
watcher thread use) go through the selector's native ``wakeup()`` instead of writing a byte to
asyncio's self-pipe socket: calls made while a wake-up is already pending are coalesced into
that one. The self-pipe itself stays: ``add_signal_handler`` hands its write end to
``signal.set_wakeup_fd`` (which needs a real fd that receives the signal numbers) and the loop
reads the signal numbers from its read end, exactly as in the stdlib. Everything else is
asyncio's own ``SelectorEventLoop`` code over the rselectors selector.
"""

import asyncio
import sys

from . import DefaultSelector


class SelectorEventLoop(asyncio.SelectorEventLoop):
    """asyncio's ``SelectorEventLoop`` on an rselectors selector, woken with ``wakeup()``.

    ``selector`` defaults to ``rselectors.DefaultSelector()``. Any other selector works too:
    one without a ``wakeup()`` method (a stdlib selector) keeps asyncio's self-pipe wake-ups,
    and so does every loop of a subclass that sets ``use_wakeup = False``.
    """

    #: wake the loop from other threads with the selector's wakeup() (else: the self-pipe)
    use_wakeup = True

    def __init__(self, selector=None):
        if selector is None:
            selector = DefaultSelector()
        super().__init__(selector)
        wakeup = getattr(selector, "wakeup", None) if self.use_wakeup else None
        if wakeup is not None:
            # call_soon_threadsafe() calls self._write_to_self(): make that the native method
            # itself (no Python frame). It is thread-safe, async-signal-tolerant, coalesces
            # bursts and does nothing once the selector is closed, like the stdlib's guarded
            # socket write it replaces.
            self._write_to_self = wakeup


def new_event_loop():
    """A new :class:`SelectorEventLoop` on ``rselectors.DefaultSelector()``.

    Pass it as a loop factory: ``asyncio.run(main(), loop_factory=rselectors.new_event_loop)``
    (Python 3.12+) or ``asyncio.Runner(loop_factory=rselectors.new_event_loop)`` (3.11+);
    ``rselectors.run(main())`` does that on every version.
    """
    return SelectorEventLoop()


def run(main, *, loop_factory=new_event_loop, debug=None):
    """Run the coroutine ``main`` on a new rselectors event loop and return its result.

    ``asyncio.run(main, debug=debug)`` with the loop made by ``loop_factory`` (by default
    :func:`new_event_loop`), with ``asyncio.run``'s semantics on the running Python:

    * ``RuntimeError`` if called while an event loop runs in this thread; ``ValueError`` if
      ``main`` is not a coroutine;
    * ``main``'s result is returned and its exception propagates;
    * at the end, the tasks still pending are cancelled (and awaited), asynchronous generators
      are finalized, the default executor is shut down and the loop is closed;
    * ``debug=True`` / ``False`` sets the loop's debug mode, ``None`` keeps its default;
    * Ctrl-C raises ``KeyboardInterrupt`` as ``asyncio.run`` does on that Python (3.11+: the
      main task is cancelled, then ``KeyboardInterrupt`` raised once it has finished; 3.9 and
      3.10: it comes out of the loop and the main task is cancelled with the other pending
      ones).

    On 3.12+ this is ``asyncio.run(..., loop_factory=...)``, on 3.11
    ``asyncio.Runner(loop_factory=...)``; neither makes the loop the thread's current event
    loop. On 3.9 and 3.10 it takes the steps of that version's ``asyncio.run``, which does set it
    for the duration of the run (and sets ``None`` afterwards).

    ``loop_factory`` must return an rselectors :class:`SelectorEventLoop` (a subclass, or one on
    another selector, e.g. ``lambda: rselectors.SelectorEventLoop(rselectors.PollSelector())``);
    anything else is closed and ``TypeError`` raised before ``main`` starts.
    """

    def checked_factory():
        loop = loop_factory()
        if not isinstance(loop, SelectorEventLoop):
            close = getattr(loop, "close", None)
            if close is not None:
                close()
            raise TypeError(
                "rselectors.run() needs a loop_factory returning an "
                f"rselectors.SelectorEventLoop, got {loop!r}"
            )
        return loop

    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=checked_factory)
    if asyncio._get_running_loop() is not None:
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=checked_factory) as runner:
            return runner.run(main)
    return _run_without_runner(main, debug, checked_factory)


def _run_without_runner(main, debug, loop_factory):
    """``run()`` on 3.9 and 3.10: their ``asyncio.run`` with a loop factory (it has none)."""
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            # The running version's own shutdown step (frozen in 3.9 and 3.10): cancel the
            # pending tasks, wait for them, report the exceptions they raise while cancelled.
            asyncio.runners._cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _make_policy_class():
    class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
        """asyncio's default event loop policy, creating :class:`SelectorEventLoop` loops.

        ``asyncio.set_event_loop_policy(rselectors.EventLoopPolicy())`` makes ``asyncio.run()``,
        ``asyncio.new_event_loop()`` and ``asyncio.get_event_loop()`` (in the main thread)
        use rselectors, on every Python version (policies are deprecated from 3.14 on:
        prefer ``loop_factory=rselectors.new_event_loop`` there).
        """

        def new_event_loop(self):
            return SelectorEventLoop()

    EventLoopPolicy.__module__ = "rselectors"
    EventLoopPolicy.__qualname__ = "EventLoopPolicy"
    return EventLoopPolicy


SelectorEventLoop.__module__ = "rselectors"


def __getattr__(name):
    # Built on first use: asyncio.DefaultEventLoopPolicy is deprecated from Python 3.14 on and
    # touching it warns, so importing this module must not.
    if name == "EventLoopPolicy":
        cls = _make_policy_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
