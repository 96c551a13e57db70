"""select(0): K ready among N registered, nothing ready, and EpollSelector at scale.

Times are per ``select(0)`` call: divide select_ready by K for the cost per ready event
(``python benches/compare.py`` prints that directly).
"""

import pytest
from rsbench.cases import scale_n
from rsbench.common import backend_available

READY = [(100, 100), (100, 1000), (100, 10_000), (1000, 1000), (1000, 10_000)]


@pytest.mark.parametrize(("k", "n"), READY, ids=[f"K={k}-N={n}" for k, n in READY])
def test_select_ready(run_case, k, n):
    """K socketpair ends registered for EVENT_WRITE (always writable), N - K idle fds."""
    run_case("select_ready", K=k, N=n)


@pytest.mark.parametrize("k", [100, 1000], ids=lambda k: f"K={k}")
def test_select_ready_read(run_case, k):
    """K socketpair ends registered for EVENT_READ with one unread byte pending."""
    run_case("select_ready_read", K=k, N=k, mode="read")


@pytest.mark.parametrize("n", [1, 100, 1000, 10_000], ids=lambda n: f"N={n}")
def test_select_idle(run_case, n):
    """N registered fds, none ready."""
    run_case("select_idle", N=n)


@pytest.mark.parametrize("backend", ["epoll"])
@pytest.mark.parametrize("n", [100, scale_n()], ids=lambda n: f"N={n}")
def test_scale(run_case, backend, n):
    """EpollSelector: 100 ready fds with 100 vs 100,000 registered (less if RLIMIT_NOFILE)."""
    if not backend_available(backend):
        pytest.skip("no epoll on this platform")
    run_case("scale", K=100, N=n)
