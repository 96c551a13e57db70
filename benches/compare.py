#!/usr/bin/env python3
"""Run stdlib ``selectors`` and ``rselectors`` side by side and print medians and ratios.

The engine is the ``rsbench`` package beside this file. Examples::

    python benches/compare.py --quick
    python benches/compare.py --floor --backends epoll --cases micro   # + the C floor
    python benches/compare.py --cases select_ready,get_key --backends epoll --json out.json
    python benches/compare.py --impl-b selectors          # stdlib vs itself: checks the noise
"""

import sys

from rsbench.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="compare.py"))
