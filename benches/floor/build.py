#!/usr/bin/env python3
"""Compile ``cfloor.c`` into ``_cfloor<EXT_SUFFIX>`` for the running Python (Linux, gcc).

Usage: ``python benches/floor/build.py [OUTDIR]`` prints the directory holding the module
(OUTDIR, created if needed, or a fresh temporary directory); put it on ``PYTHONPATH``. The
builder is ``rsbench.floor.build`` (``python benches/compare.py --floor`` calls it itself).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rsbench.floor import build

if __name__ == "__main__":
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help")):
        sys.stderr.write(__doc__)
        sys.exit(2)
    print(build(sys.argv[1] if len(sys.argv) == 2 else None))
