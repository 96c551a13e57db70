#!/usr/bin/env python3
"""Run stdlib ``selectors`` and ``rselectors`` side by side and print medians and ratios.

A thin entry point over ``rselectors._bench`` (the same engine as ``python -m rselectors bench``)
that also works from a checkout where rselectors is not installed: the engine is loaded by file
path. Examples::

    python benches/compare.py --quick
    python benches/compare.py --cases select_ready,get_key --backends epoll --json out.json
    python benches/compare.py --impl-b selectors          # stdlib vs itself: checks the noise
"""

import importlib.util
import os
import sys

ENGINE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, "python", "rselectors", "_bench.py"
)


def load_engine():
    """The checkout's ``_bench.py`` loaded by path (it imports only the stdlib), once."""
    if "_rselectors_bench" in sys.modules:
        return sys.modules["_rselectors_bench"]
    spec = importlib.util.spec_from_file_location("_rselectors_bench", os.path.abspath(ENGINE))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


if __name__ == "__main__":
    sys.exit(load_engine().main(prog="compare.py"))
