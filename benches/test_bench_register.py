"""register + unregister of one fd, and modify READ <-> READ|WRITE (100 others registered)."""

import pytest

OBJS = ["sock", "fd"]


@pytest.mark.parametrize("obj", OBJS)
def test_register_unregister(run_case, obj):
    """One call = ``register(x, EVENT_READ)`` + ``unregister(x)``; x a socket or its int fd."""
    run_case("register_unregister", obj=obj)


@pytest.mark.parametrize("obj", OBJS)
def test_modify(run_case, obj):
    """One call = ``modify(x, READ|WRITE)`` + ``modify(x, READ)`` (two modifies)."""
    run_case("modify", obj=obj)
