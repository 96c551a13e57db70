#!/usr/bin/env python3
"""Compile ``cfloor.c`` into ``_cfloor<EXT_SUFFIX>`` for the running Python (Linux, gcc).

Usage: ``python benches/floor/build.py [OUTDIR]`` prints the directory holding the module
(OUTDIR, created if needed, or a fresh temporary directory); put it on ``PYTHONPATH``.
As a function: ``build(outdir=None) -> directory``. Only ``sysconfig`` and a C compiler
(``$CC``, default ``gcc``) are needed: no setuptools.
"""

import os
import subprocess
import sys
import sysconfig
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "cfloor.c")


def build(outdir=None):
    """Build the extension into ``outdir`` (a new temporary directory if None); return it."""
    if outdir is None:
        outdir = tempfile.mkdtemp(prefix="cfloor-")
    outdir = os.path.abspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    paths = sysconfig.get_paths()
    includes = []
    for key in ("include", "platinclude"):
        if paths.get(key) and paths[key] not in includes:
            includes.append(paths[key])
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = os.path.join(outdir, "_cfloor" + suffix)
    tmp = target + ".tmp"
    cmd = [os.environ.get("CC", "gcc"), "-O2", "-shared", "-fPIC", "-Wall", "-Wextra",
           "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    cmd += ["-I" + d for d in includes]
    cmd += [SOURCE, "-o", tmp, "-lm"]
    # compiler diagnostics go to stderr: stdout carries only the directory
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    os.replace(tmp, target)  # atomic: a worker importing meanwhile sees the old or new file
    return outdir


if __name__ == "__main__":
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help")):
        sys.stderr.write(__doc__)
        sys.exit(2)
    print(build(sys.argv[1] if len(sys.argv) == 2 else None))
