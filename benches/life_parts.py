#!/usr/bin/env python3
"""A selector's life taken apart: each part timed on the stdlib, rselectors and the C floors.

A life (``with Sel() as s: s.register(sock, EVENT_READ); s.select(0)``) is the sum of a few
calls; this times each of them alone, on every implementation, in one run, so that the gap
between rselectors and the floor can be placed: making and closing a selector, ``with``,
``register`` + ``unregister``, ``select(0)`` on one ready socket, ``get_key``, and the whole
life. Implementations are interleaved round by round (each round times every part on every
implementation, in a rotating order); each figure is the best round's time per operation.

Implementations: the stdlib (A), rselectors (B), the C floor ``_cfloor`` (C) and, if built,
``_cfloor_contract`` (C'), the floor doing what the stdlib's classes also do (instance
``__dict__``, weak references, subclasses, ``with`` closing through ``self.close()``)::

    python benches/floor/build.py /tmp/floor
    python benches/floor/build.py --contract /tmp/floor
    PYTHONPATH=/tmp/floor python benches/life_parts.py [--rounds N] [--classes Poll,Select]
"""

import argparse
import importlib
import os
import selectors
import socket
import sys
import timeit

#: part -> statement; `cls` is the class, `s` a live selector with `a` (readable) registered
PARTS = {
    "new + close": "cls().close()",
    "with (new, close)": "with cls():\n    pass",
    "register + unregister": "s.register(b, 1)\ns.unregister(b)",
    "select(0), 1 ready": "s.select(0)",
    "get_key": "s.get_key(a)",
    "life (select(0))": "with cls() as t:\n    t.register(a, 1)\n    t.select(0)",
}


CONTRACT = "C'"


def implementations():
    impls = [("A", "stdlib", selectors), ("B", "rselectors", importlib.import_module("rselectors"))]
    impls.append(("C", "_cfloor", importlib.import_module("_cfloor")))
    try:
        impls.append((CONTRACT, "_cfloor_contract", importlib.import_module("_cfloor_contract")))
    except ImportError:
        print("note: _cfloor_contract not importable (build it: see the docstring); left out")
    return impls


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default 9)")
    p.add_argument("--number", type=int, default=20000, help="operations per timing")
    p.add_argument("--classes", default="Epoll,Poll,Select", help="selector classes")
    args = p.parse_args()
    impls = implementations()
    a, b = socket.socketpair()
    b.send(b"x")  # `a` is readable
    c, d = socket.socketpair()  # `c`: registered and unregistered by the register part
    print(f"CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"{args.rounds} interleaved rounds x {args.number} operations; best round, ns/op\n")
    labels = [label for label, _, _ in impls]
    header = f"{'class':8} {'part':24}" + "".join(f"{lbl:>9}" for lbl in labels)
    header += "    B/A   B/C"
    if CONTRACT in labels:
        header += "  B/C'  C'/C"
    print(header)
    for cname in args.classes.split(","):
        cls_name = cname + "Selector"
        best = {(part, label): float("inf") for part in PARTS for label in labels}
        live = {}
        for label, _, mod in impls:
            s = getattr(mod, cls_name)()
            s.register(a, 1)
            live[label] = s
        for r in range(args.rounds):
            order = impls[r % len(impls) :] + impls[: r % len(impls)]
            for part, stmt in PARTS.items():
                for label, _, mod in order:
                    ns = {"cls": getattr(mod, cls_name), "s": live[label], "a": a, "b": c}
                    t = timeit.timeit(stmt, globals=ns, number=args.number)
                    best[part, label] = min(best[part, label], t / args.number * 1e9)
        for s in live.values():
            s.close()
        for part in PARTS:
            v = {label: best[part, label] for label in labels}
            row = f"{cname:8} {part:24}" + "".join(f"{v[lbl]:9.1f}" for lbl in labels)
            row += f"  {v['B'] / v['A']:5.2f} {v['B'] / v['C']:5.2f}"
            if CONTRACT in v:
                row += f"  {v['B'] / v[CONTRACT]:5.2f} {v[CONTRACT] / v['C']:5.2f}"
            print(row)
        print()
    d.close()


if __name__ == "__main__":
    main()
