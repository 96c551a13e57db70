"""asyncio on rselectors: an event loop class, a loop factory and an event loop policy.

``new_event_loop()`` returns a :class:`SelectorEventLoop` on ``rselectors.DefaultSelector()``:

* 3.12+: ``asyncio.run(main(), loop_factory=rselectors.new_event_loop)``
* 3.11+: ``with asyncio.Runner(loop_factory=rselectors.new_event_loop) as r: r.run(main())``
* any version: ``asyncio.set_event_loop_policy(rselectors.EventLoopPolicy())``, then
  ``asyncio.run(main())``.

Cross-thread wake-ups (``call_soon_threadsafe``, which ``run_in_executor``,
``run_coroutine_threadsafe`` and the subprocess child watcher thread use) go through the
selector's native ``wakeup()`` instead of writing a byte to asyncio's self-pipe socket: one
atomic flag swap, and an ``eventfd`` write only when no wake-up is already pending, so a burst
of calls costs one syscall, not one each. The self-pipe itself stays: ``add_signal_handler``
hands its write end to ``signal.set_wakeup_fd`` (which needs a real fd that receives the signal
numbers) and the loop reads the signal numbers from its read end, exactly as in the stdlib.

Measured (``python -m rselectors._asyncio_bench``; Linux 6.18, CPython 3.11, 2 CPUs, medians of
interleaved runs, wakeup vs the self-pipe on the same EpollSelector): 4 threads calling
``call_soon_threadsafe``: 2.3x the callbacks per second at 1/3 of the CPU per call; one call
from the loop thread: 445 ns vs 1.27 us; ``run_in_executor`` round trip: 22 us vs 29 us;
call/callback ping-pong with another thread: 8.9 us vs 10.6 us; streams echo: same (nothing
crosses threads). One-way latency to an idle loop: 12.0 us vs 9.9 us -- the wakeup() binding
keeps the GIL during its eventfd write, so the woken loop thread waits for the GIL; with the
write done with the GIL released (a binding change) that becomes 7.5 us vs 9.7 us.
"""

import asyncio

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
    (Python 3.12+) or ``asyncio.Runner(loop_factory=rselectors.new_event_loop)`` (3.11+).
    """
    return SelectorEventLoop()


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
