"""The C floor (``benches/floor/cfloor.c``): compile it into ``_cfloor<EXT_SUFFIX>``.

Only ``sysconfig`` and a C compiler (``$CC``, default ``gcc``) are needed: no setuptools.
``python benches/compare.py --floor`` builds it into a temporary directory and measures it as
the third implementation; ``python benches/floor/build.py [OUTDIR]`` builds it by hand, and
``python benches/floor/build.py --contract [OUTDIR]`` builds ``_cfloor_contract``: the same
floor doing what the stdlib's classes also do (instance ``__dict__``, weak references,
subclasses, ``with`` closing through ``self.close()``), to measure against with ``--impl-a``.
"""

import os
import subprocess
import sys
import sysconfig
import tempfile

from .common import BENCHES

SOURCE = os.path.join(BENCHES, "floor", "cfloor.c")


def build(outdir=None, contract=False):
    """Build the extension into ``outdir`` (a new temporary directory if None); return it.

    ``contract``: build ``_cfloor_contract`` (see the module docstring) instead."""
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
    name = "_cfloor_contract" if contract else "_cfloor"
    target = os.path.join(outdir, name + suffix)
    tmp = target + ".tmp"
    cmd = [
        os.environ.get("CC", "gcc"),
        "-O2",
        "-shared",
        "-fPIC",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
    ]
    cmd += ["-I" + d for d in includes]
    if contract:
        cmd.append("-DCFLOOR_CONTRACT")
    cmd += [SOURCE, "-o", tmp, "-lm"]
    # compiler diagnostics go to stderr: stdout carries only the directory
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    os.replace(tmp, target)  # atomic: a worker importing meanwhile sees the old or new file
    return outdir
