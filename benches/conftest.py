"""pytest-benchmark fixtures: one selector per (implementation, backend), shared fd helpers.

The cases and their fds come from the engine (``rsbench``, beside this file); pytest-benchmark
times one call of the case's statement.

Implementations: ``--bench-impls selectors,rselectors`` (default). An implementation that is
not importable is skipped with the import error as the reason.
"""

import importlib
import re

import pytest
from rsbench.cases import MICRO_CASES, CaseError
from rsbench.common import FdPool, backend_available, class_name
from rsbench.timing import make_call

BACKENDS = ["epoll", "poll", "select"]


def pytest_addoption(parser):
    parser.addoption(
        "--bench-impls",
        default="selectors,rselectors",
        help="comma-separated selectors implementations to benchmark (module names)",
    )


def pytest_generate_tests(metafunc):
    if "impl" in metafunc.fixturenames:
        names = [n.strip() for n in metafunc.config.getoption("bench_impls").split(",")]
        metafunc.parametrize("impl", [n for n in names if n], scope="session")


@pytest.fixture(scope="session")
def impl_module(impl):
    try:
        return importlib.import_module(impl)
    except ImportError as e:
        pytest.skip(f"{impl} is not importable: {e}")


@pytest.fixture(params=BACKENDS)
def backend(request):
    if not backend_available(request.param):
        pytest.skip(f"no {request.param} on this platform")
    return request.param


@pytest.fixture
def pool():
    p = FdPool()
    yield p
    p.close()


@pytest.fixture
def run_case(benchmark, impl, impl_module, backend, pool):
    """``run_case(case_name, group, **params)``: build the case, time one statement per call."""
    sels = []

    def run(case_name, **params):
        cls = getattr(impl_module, class_name(backend), None)
        if cls is None:
            pytest.skip(f"{impl} has no {class_name(backend)}")
        try:
            case = MICRO_CASES[case_name](pool, backend, dict(params, case=case_name))
            sel, names, stmt, ops = case.make(impl_module, cls)
        except CaseError as e:
            pytest.skip(str(e))
        sels.append(sel)
        shown = " ".join(f"{k}={v}" for k, v in params.items() if k != "mode")
        benchmark.group = f"{case_name} {backend} {shown}".rstrip()
        benchmark.extra_info.update(stmt=stmt, ops_per_call=ops, unit=case.unit)
        benchmark.name = f"{case_name}[{impl}]"
        m = re.fullmatch(r"(\w+)\((\w+)\)", stmt)
        if m:  # a single call: let pytest-benchmark call the bound method directly
            fn, arg = m.groups()
            benchmark(names[fn], int(arg) if arg.isdigit() else names[arg])
        else:
            benchmark(make_call(names, stmt))

    yield run
    for sel in sels:
        sel.close()
