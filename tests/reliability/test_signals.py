"""Reliability: signals during select().

* Ctrl-C: SIGINT sent to the process (like a terminal's Ctrl-C) while the main thread is in
  ``select(None)`` raises KeyboardInterrupt within 100 ms, 20 times in a row on every
  backend (no lost interrupt; a lost one is detected by a watchdog and reported).
* A storm of signals whose handler returns: SIGUSR1 every ~1 ms from another process during
  ``select(0.5)``: select lasts >= 0.5 s (it retries with the remaining time, PEP 475) and not
  absurdly longer; readiness that arrives during the storm is still reported promptly; Ctrl-C
  during the storm still interrupts within 100 ms.

The number of signals sent and handled is recorded (``-s`` shows it). These tests install
their own handlers; their pytest-timeout uses the thread method.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from _support import EVENT_READ

from ._reliability import record, soak_count

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs POSIX signals"),
]

SIGINT_ROUNDS = 20
SIGINT_LATENCY = 0.100

# A separate process sends the storm, so the sender never competes for our GIL.
STORM_SENDER = r"""
import os, signal, sys, time
pid, interval, duration = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
sent = 0
end = time.monotonic() + duration
while time.monotonic() < end:
    os.kill(pid, signal.SIGUSR1)
    sent += 1
    time.sleep(interval)
print(sent, flush=True)
"""


def _require_main_thread():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")


class Storm:
    """SIGUSR1 every ``interval`` s for ``duration`` s, sent by a child process."""

    def __init__(self, interval=0.001, duration=1.0):
        self.handled = 0
        self.sent = None
        self.old = signal.signal(signal.SIGUSR1, self._handler)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", STORM_SENDER, str(os.getpid()), str(interval),
             str(duration)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def _handler(self, signum, frame):
        self.handled += 1

    def start(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self):
        try:
            out, _ = self.proc.communicate(timeout=30)
            self.sent = int(out.strip())
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            # let the last signals in flight arrive while our handler is still installed
            time.sleep(0.05)
            signal.signal(signal.SIGUSR1, self.old)
        return self.sent


class SigintSender(threading.Thread):
    """Sends SIGINT to the process ``delay`` s after each ``arm()``; until the main thread
    acknowledges that round, a watchdog re-sends SIGINT every second (a lost interrupt is
    then reported). Rounds are numbered, so an acknowledgement can never be taken for the
    next round's (a re-send must not land in a later round)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.cond = threading.Condition()
        self.armed = 0  # rounds armed by the main thread
        self.acked = 0  # rounds the main thread got its KeyboardInterrupt for
        self.quit = False
        self.sent_at = None
        self.sent = 0
        self.resent = 0
        self.delay = 0.03

    def arm(self, delay):
        with self.cond:
            self.delay = delay
            self.sent_at = None
            self.armed += 1
            self.cond.notify_all()

    def ack(self):
        with self.cond:
            self.acked = self.armed
            self.cond.notify_all()

    def run(self):
        done = 0
        while True:
            with self.cond:
                self.cond.wait_for(lambda done=done: self.quit or self.armed > done)
                if self.quit:
                    return
                done, delay = self.armed, self.delay
            time.sleep(delay)
            self.sent_at = time.monotonic()
            os.kill(os.getpid(), signal.SIGINT)
            self.sent += 1
            while True:
                with self.cond:
                    if self.cond.wait_for(lambda done=done: self.quit or self.acked >= done, 1.0):
                        break
                self.resent += 1
                os.kill(os.getpid(), signal.SIGINT)

    def stop(self):
        with self.cond:
            self.quit = True
            self.cond.notify_all()
        self.join(5)


def _sigint_rounds(sel, rounds, delay=0.01, latencies=None):
    """``rounds`` x (select(None) interrupted by SIGINT); returns the latencies and the
    SIGINTs sent. Fails if an interrupt was lost (the watchdog had to re-send)."""
    latencies = [] if latencies is None else latencies
    sender = SigintSender()
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender.start()
    lost = 0
    try:
        for _ in range(rounds):
            sender.arm(delay)
            try:
                result = sel.select(None)
            except KeyboardInterrupt:
                got = time.monotonic()
            else:
                pytest.fail(f"select(None) returned {result!r} instead of raising")
            finally:
                sender.ack()
            if sender.sent_at is None:
                pytest.fail("KeyboardInterrupt before SIGINT was sent")
            latencies.append(got - sender.sent_at)
        lost = sender.resent
    finally:
        # drain a possible re-sent SIGINT before restoring the handler
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:
            lost += 1
        sender.stop()
        signal.signal(signal.SIGINT, old)
    assert lost == 0, f"{lost} SIGINT(s) lost: select(None) kept blocking"
    return latencies, sender.sent


def _late(latencies):
    """The latencies above 100 ms, in ms."""
    return [round(t * 1000, 1) for t in latencies if t > SIGINT_LATENCY]


@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("registered", [True, False], ids=["fds", "no_fd"])
def test_sigint_20_in_a_row(sel, socketpair, registered):
    _require_main_thread()
    if registered:
        for _ in range(3):
            rd, _wr = socketpair()
            sel.register(rd, EVENT_READ)
    latencies, sent = _sigint_rounds(sel, SIGINT_ROUNDS)
    record(f"sigint[{type(sel).__name__},{'fds' if registered else 'no_fd'}]",
           sigint_sent=sent, max_latency_ms=round(1000 * max(latencies), 1),
           mean_latency_ms=round(1000 * sum(latencies) / len(latencies), 1))
    assert len(latencies) == SIGINT_ROUNDS and sent == SIGINT_ROUNDS
    late = _late(latencies)
    assert not late, f"KeyboardInterrupt later than 100 ms after SIGINT: {late} ms"
    # the selector still works
    assert sel.select(0) == []


@pytest.mark.timeout(60, method="thread")
def test_sigint_interrupts_and_selector_keeps_working(sel, socketpair):
    """After each KeyboardInterrupt the registrations and readiness are intact."""
    _require_main_thread()
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ, "d")
    for i in range(5):
        _sigint_rounds(sel, 1)
        assert sel.get_key(rd) is key
        wr.send(b"x")
        assert sel.select(0) == [(key, EVENT_READ)]
        rd.recv(10)
        assert sel.select(0) == [], i


@pytest.mark.timeout(60, method="thread")
def test_sigint_while_another_thread_holds_the_gil(sel, socketpair):
    """A busy pure-Python thread competes for the GIL (switch interval 5 ms): Ctrl-C still
    interrupts select(None) within 100 ms."""
    _require_main_thread()
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    stop = threading.Event()

    def spin():
        n = 0
        while not stop.is_set():
            n += 1

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        latencies, sent = _sigint_rounds(sel, 10)
    finally:
        stop.set()
        spinner.join(5)
    record(f"sigint_busy_gil[{type(sel).__name__}]", sigint_sent=sent,
           max_latency_ms=round(1000 * max(latencies), 1))
    late = _late(latencies)
    assert not late, f"KeyboardInterrupt later than 100 ms after SIGINT: {late} ms"


@pytest.mark.timeout(60, method="thread")
def test_storm_select_waits_full_timeout(sel, socketpair):
    """SIGUSR1 every ~1 ms, the handler returns: select(timeout) still lasts >= timeout."""
    _require_main_thread()
    timeout = 0.5
    rd, _wr = socketpair()
    sel.register(rd, EVENT_READ)
    storm = Storm(interval=0.001, duration=timeout + 0.15)
    try:
        storm.start()
        time.sleep(0.05)  # the storm is on
        t0 = time.monotonic()
        result = sel.select(timeout)
        elapsed = time.monotonic() - t0
        handled_during = storm.handled
    finally:
        sent = storm.finish()
    record(f"signal_storm[{type(sel).__name__},{timeout}]", sigusr1_sent=sent,
           handled=storm.handled, handled_during_select=handled_during,
           elapsed_ms=round(elapsed * 1000, 1))
    assert result == []
    assert handled_during > 10, "the storm did not reach select()"
    assert elapsed >= timeout, elapsed
    assert elapsed < timeout + 0.4, f"select({timeout}) took {elapsed:.3f}s under the storm"


@pytest.mark.timeout(60, method="thread")
def test_storm_readiness_still_reported(sel, socketpair):
    """During the storm, an fd that becomes ready ends select(None) promptly."""
    _require_main_thread()
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ)
    storm = Storm(interval=0.001, duration=0.5)
    timer = threading.Timer(0.3, wr.send, (b"x",))
    try:
        storm.start()
        t0 = time.monotonic()
        timer.start()
        result = sel.select(None)
        elapsed = time.monotonic() - t0
    finally:
        timer.join()
        sent = storm.finish()
    record(f"signal_storm_ready[{type(sel).__name__}]", sigusr1_sent=sent,
           handled=storm.handled, elapsed_ms=round(elapsed * 1000, 1))
    assert result == [(key, EVENT_READ)]
    assert 0.29 <= elapsed < 0.3 + 0.4, elapsed


@pytest.mark.timeout(60, method="thread")
def test_storm_then_sigint(sel, socketpair):
    """Ctrl-C in the middle of a SIGUSR1 storm still interrupts select(None) within 100 ms."""
    _require_main_thread()
    _rd, wr = socketpair()
    sel.register(wr, EVENT_READ)  # never ready for reading
    storm = Storm(interval=0.001, duration=0.6)
    try:
        storm.start()
        latencies, sent_int = _sigint_rounds(sel, 4, delay=0.1)
    finally:
        sent = storm.finish()
    record(f"storm_then_sigint[{type(sel).__name__}]", sigusr1_sent=sent,
           handled=storm.handled, sigint_sent=sent_int,
           max_latency_ms=round(1000 * max(latencies), 1))
    late = _late(latencies)
    assert not late, f"KeyboardInterrupt later than 100 ms after SIGINT: {late} ms"


@pytest.mark.timeout(60, method="thread")
def test_raising_handler_in_storm_propagates_once(sel, socketpair):
    """A handler that raises on the 50th signal: select() propagates that exception, the
    registrations are intact, and the next select() works."""
    _require_main_thread()
    rd, wr = socketpair()
    key = sel.register(rd, EVENT_READ)

    class Stop(Exception):
        pass

    count = [0]

    def handler(signum, frame):
        count[0] += 1
        if count[0] == 50:
            raise Stop

    storm = Storm(interval=0.001, duration=0.3)
    signal.signal(signal.SIGUSR1, handler)
    try:
        storm.start()
        with pytest.raises(Stop):
            sel.select(5)
    finally:
        storm.finish()
    assert count[0] >= 50
    assert sel.get_key(rd) is key
    wr.send(b"x")
    assert sel.select(0) == [(key, EVENT_READ)]


@pytest.mark.soak
@pytest.mark.timeout(3600, method="thread")
def test_sigint_soak(sel, socketpair):
    """Many Ctrl-C in a row (1,000 x RSELECTORS_SOAK_SCALE) with a writable-but-unwatched
    fd registered."""
    _require_main_thread()
    _rd, wr = socketpair()
    sel.register(wr, EVENT_READ)
    rounds = soak_count(1000, minimum=20)
    latencies, sent = _sigint_rounds(sel, rounds, delay=0.005)
    latencies.sort()
    record(f"sigint_soak[{type(sel).__name__}]", sigint_sent=sent, rounds=rounds,
           p50_ms=round(1000 * latencies[len(latencies) // 2], 2),
           max_ms=round(1000 * latencies[-1], 1))
    late = _late(latencies)
    assert not late, f"{len(late)} of {rounds} later than 100 ms: {late[:10]}"


@pytest.mark.soak
@pytest.mark.timeout(3600, method="thread")
def test_storm_soak(sel, socketpair):
    """select(0.05) repeatedly under a 1 ms SIGUSR1 storm for 30 s x RSELECTORS_SOAK_SCALE:
    never early, never absurdly late."""
    _require_main_thread()
    _rd, wr = socketpair()
    sel.register(wr, EVENT_READ)
    duration = max(2.0, 30.0 * float(os.environ.get("RSELECTORS_SOAK_SCALE", "1")))
    storm = Storm(interval=0.001, duration=duration)
    worst = 0.0
    calls = 0
    try:
        storm.start()
        end = time.monotonic() + duration - 0.2
        while time.monotonic() < end:
            t0 = time.monotonic()
            assert sel.select(0.05) == []
            elapsed = time.monotonic() - t0
            assert elapsed >= 0.05, elapsed
            worst = max(worst, elapsed)
            calls += 1
    finally:
        sent = storm.finish()
    record(f"storm_soak[{type(sel).__name__}]", sigusr1_sent=sent, handled=storm.handled,
           select_calls=calls, worst_ms=round(worst * 1000, 1))
    assert worst < 0.05 + 0.4

