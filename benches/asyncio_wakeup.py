#!/usr/bin/env python3
"""asyncio wake-ups: rselectors' ``wakeup()`` against asyncio's self-pipe (``--help``).

The engine is ``rsbench.asyncio_wakeup``, beside this file::

    python benches/asyncio_wakeup.py --quick
    python benches/asyncio_wakeup.py --json out.json
"""

import sys

from rsbench.asyncio_wakeup import main

if __name__ == "__main__":
    sys.exit(main())
