"""pytest configuration: the module under test, selector-class fixtures and markers.

``RSELECTORS_UNDER_TEST=selectors`` runs everything against the stdlib (tests marked
``fixes_stdlib`` are then skipped: they assert where rselectors deliberately differs);
the default target is ``rselectors`` and an import failure fails the run.
``soak`` tests run only when selected with ``-m soak``.
"""


import pytest
from _support import (
    CLASS_NAMES,
    IS_STDLIB,
    SELECTOR_CLASSES,
    TARGET,
    TARGET_NAME,
    stdlib_class,
)
from _support import (
    socketpair as _socketpair,
)


def pytest_report_header(config):
    where = getattr(TARGET, "__file__", "?")
    return [
        f"selectors module under test: {TARGET_NAME} ({where})",
        (f"selector classes: {', '.join(CLASS_NAMES)}; "
        f"DefaultSelector = {TARGET.DefaultSelector.__name__}"),
    ]


def pytest_collection_modifyitems(config, items):
    markexpr = config.getoption("markexpr", "") or ""
    run_soak = "soak" in markexpr and "not soak" not in markexpr
    for item in items:
        if IS_STDLIB:
            for mark in item.iter_markers("fixes_stdlib"):
                reason = mark.args[0] if mark.args else "deliberate difference"
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"rselectors deliberately differs from the stdlib: {reason}"
                    )
                )
                break
        if not run_soak and item.get_closest_marker("soak") is not None:
            item.add_marker(pytest.mark.skip(reason="soak test: select it with -m soak"))
        # A test parametrized over selector classes of which this platform has none (pytest
        # says only "got empty parameter set"): say which classes there are.
        empty = "got empty parameter set for (selector_class"
        for mark in item.iter_markers("skip"):
            if mark.kwargs.get("reason", "").startswith(empty):
                item.add_marker(
                    pytest.mark.skip(
                        reason="for selector classes this platform does not have (it has "
                        f"{', '.join(CLASS_NAMES)})"
                    ),
                    append=False,
                )
                break


@pytest.fixture(params=SELECTOR_CLASSES, ids=CLASS_NAMES)
def selector_class(request):
    """Every selector class of the module under test on this platform."""
    return request.param


@pytest.fixture
def sel(selector_class):
    """A fresh selector of the class under test, closed at teardown."""
    s = selector_class()
    yield s
    s.close()


@pytest.fixture
def std_sel(selector_class):
    """A stdlib selector of the same kind as ``selector_class`` (the reference)."""
    s = stdlib_class(selector_class)()
    yield s
    s.close()


@pytest.fixture
def socketpair():
    """Factory of nonblocking socketpairs, all closed at teardown."""
    made = []

    def make():
        pair = _socketpair()
        made.extend(pair)
        return pair

    yield make
    for s in made:
        s.close()
