"""Reliability: a pre-fork server on exclusive registrations (``register(...,
exclusive=True)``), under load.

Forked workers, each with its own selector over one shared listening socket (the loop of
``benches/rsbench/prefork.py``), accept and answer connections while some of them keep
modifying their registration (``EVENT_READ`` <-> ``EVENT_READ | EVENT_WRITE``: for an
exclusive epoll registration a delete and a re-add, the window in which a worker is off the
socket's wait queue). Every connection must be answered exactly once, no worker may fail or
hang, and on epoll the herd must be gone: the kernel wakes about one worker per connection
instead of every worker. Fast variant: a few hundred connections per class; soak: 100,000
(times ``RSELECTORS_SOAK_SCALE``) on epoll.
"""

import importlib
import os
import sys

import pytest
from _support import IS_STDLIB, TARGET

from ._reliability import record, soak_count

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.skipif(IS_STDLIB, reason="exclusive registrations are rselectors'"),
    pytest.mark.timeout(600),
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]

BENCHES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "benches")


@pytest.fixture(scope="module")
def prefork():
    """The pre-fork harness of the benchmark engine (``benches/`` on the path)."""
    sys.path.insert(0, BENCHES)
    try:
        yield importlib.import_module("rsbench.prefork")
    finally:
        sys.path.remove(BENCHES)


CLASSES = [n for n in ("EpollSelector", "PollSelector", "SelectSelector") if hasattr(TARGET, n)]


def serve(prefork, cls_name, workers, connections, window, churn):
    result = prefork.run(
        "rselectors exclusive",
        workers,
        connections,
        window=window,
        cls_name=cls_name,
        churn=churn,
        timeout=300,
    )
    # Every connection answered, and accepted exactly once.
    assert result["answered"] == connections, result
    assert result["accepted"] == connections, result
    assert all(r["accepted"] + r["empty"] == r["wakeups"] for r in result["reports"])
    woken = result["switches"] / connections
    record(
        f"prefork {cls_name} exclusive",
        workers=workers,
        connections=connections,
        window=window,
        modifies=result["modifies"],
        woken_per_connection=f"{woken:.2f}",
        empty=result["empty"],
    )
    return woken


@pytest.mark.parametrize("cls_name", CLASSES)
def test_every_connection_is_answered_once(prefork, cls_name):
    workers = 4
    woken = serve(prefork, cls_name, workers, 300, window=1, churn=7)
    if cls_name == "EpollSelector":
        # One at a time, every worker waiting: the herd would wake all four per connection.
        assert woken < workers / 2, f"{woken:.2f} workers woken per connection"


@pytest.mark.soak
def test_soak_every_connection_is_answered_once(prefork):
    if "EpollSelector" not in CLASSES:
        pytest.skip("exclusive wake-ups are epoll's (no EpollSelector here)")
    workers = 8
    connections = soak_count(100_000, minimum=2_000)
    for window in (1, 32):
        woken = serve(prefork, "EpollSelector", workers, connections, window=window, churn=101)
        assert woken < workers / 2, f"window {window}: {woken:.2f} workers woken per connection"
