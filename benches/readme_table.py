#!/usr/bin/env python3
"""Print the README's benchmark table from ``compare.py --json`` results (``--help``)::

python benches/readme_table.py benches/results/RUN-a.json benches/results/RUN-b.json
"""

import sys

from rsbench.readme import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
