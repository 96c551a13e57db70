#!/usr/bin/env python3
"""Compile ``cfloor.c`` into ``_cfloor<EXT_SUFFIX>`` for the running Python (Linux, gcc).

Usage: ``python benches/floor/build.py [--contract] [OUTDIR]`` prints the directory holding
the module (OUTDIR, created if needed, or a fresh temporary directory); put it on
``PYTHONPATH``. ``--contract`` builds ``_cfloor_contract`` instead: the floor with the
stdlib classes' instance ``__dict__``, weak references, subclassing and ``with`` closing
through ``self.close()``. The builder is ``rsbench.floor.build`` (``python benches/compare.py
--floor`` calls it itself).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rsbench.floor import build

if __name__ == "__main__":
    args = sys.argv[1:]
    contract = "--contract" in args
    args = [a for a in args if a != "--contract"]
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        sys.stderr.write(__doc__)
        sys.exit(2)
    print(build(args[0] if args else None, contract=contract))
