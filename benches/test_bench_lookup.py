"""Key lookups among 100 registrations: get_key, get_map().get, and a cached map's get."""

import pytest

OBJS = ["fd", "sock"]


@pytest.mark.parametrize("obj", OBJS)
def test_get_key(run_case, obj):
    """``sel.get_key(x)``."""
    run_case("get_key", obj=obj)


@pytest.mark.parametrize("obj", OBJS)
def test_map_get(run_case, obj):
    """``sel.get_map().get(x)`` (a new map view per call where the implementation makes one)."""
    run_case("map_get", obj=obj)


@pytest.mark.parametrize("obj", OBJS)
def test_map_get_cached(run_case, obj):
    """``m.get(x)`` with ``m = sel.get_map()`` taken once."""
    run_case("map_get_cached", obj=obj)
