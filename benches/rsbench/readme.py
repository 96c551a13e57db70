"""The README's benchmark table, rendered from ``--json`` results of ``compare.py``.

``python benches/readme_table.py RUN.json [RUN.json ...]`` prints the Markdown table of the
README's "Benchmarks" section; with several runs each cell is the range over them. Columns:
stdlib (A), rselectors (B), the C floor (C, from a ``--floor`` run) and the ratios B/A,
B/C and K/A (the kernel's share: the lowest B/A the case's bare system calls leave). Rows
are ``ROWS`` (micro cases by id pattern), the scale, memory and timeout rows, and one row
per echo case and load setup found in the runs.
"""

import fnmatch
import json
import statistics

HEADER = ["case (EpollSelector unless named)", "stdlib", "rselectors", "C floor"]
HEADER += ["rselectors / stdlib", "rselectors / floor", "kernel / stdlib"]

#: value columns, then ratio columns
VALUES, RATIOS = 3, 3


def micro(res):
    """``(values of A, B, C; ratios B/A, B/C, K/A)`` of a micro result (None where absent)."""
    v = list(res["values"]) + [None] * (3 - len(res["values"]))
    return v, [res["ratio"], res.get("ratio_floor"), res.get("kernel_share")]


def memory(res):
    a, b = res["values"]
    return [a, b, None], [b / a if a else None, None, None]


def overshoot(stat):
    def get(res):
        sa, sb = res["stats"]
        return [sa[stat], sb[stat], None], [None, None, None]

    return get


#: (label, [(case id pattern, getter, unit), ...]): a group per " / "-separated part of a cell
ROWS = [
    (
        "`select(0)`, 100 ready of 100–10,000 registered, per ready event",
        [("select_ready/epoll/K=100/*", micro, "ns")],
    ),
    (
        "`select(0)`, 1,000 ready of 1,000–10,000, per ready event",
        [("select_ready/epoll/K=1000/*", micro, "ns")],
    ),
    ("`select(0)`, nothing ready, 1–10,000 registered", [("select_idle/epoll/*", micro, "ns")]),
    (
        "register + unregister (socket / int fd)",
        [
            ("register_unregister/epoll/obj=sock", micro, "ns"),
            ("register_unregister/epoll/obj=fd", micro, "ns"),
        ],
    ),
    (
        "modify READ ↔ READ\\|WRITE (socket / int fd)",
        [("modify/epoll/obj=sock", micro, "ns"), ("modify/epoll/obj=fd", micro, "ns")],
    ),
    (
        "`get_key` (int fd / socket)",
        [("get_key/epoll/obj=fd", micro, "ns"), ("get_key/epoll/obj=sock", micro, "ns")],
    ),
    (
        "`get_map().get` (int fd / socket)",
        [("map_get/epoll/obj=fd", micro, "ns"), ("map_get/epoll/obj=sock", micro, "ns")],
    ),
    *(
        (
            f"{cls}: 100 ready of 100, per event / modify / register+unregister (int fd)",
            [
                (f"select_ready/{b}/K=100/N=100", micro, "ns"),
                (f"modify/{b}/obj=fd", micro, "ns"),
                (f"register_unregister/{b}/obj=fd", micro, "ns"),
            ],
        )
        for b, cls in (("poll", "PollSelector"), ("select", "SelectSelector"))
    ),
    (
        "memory per registration, 100,000 registrations (epoll / poll / select)",
        [(f"memory/{b}/*", memory, "B") for b in ("epoll", "poll", "select")],
    ),
    (
        "`select(0.0001)` overshoot, median / p99",
        [
            ("timeout/epoll/t_us=100", overshoot("median"), "µs"),
            ("timeout/epoll/t_us=100", overshoot("p99"), "µs"),
        ],
    ),
]

ECHO_LABELS = {
    "echo_callback": "seed echo server",
    "echo_asyncio_protocol": "asyncio echo, Protocol",
    "echo_asyncio_streams": "asyncio echo, streams",
}


def _num(x):
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:.1f}"


def _span(values, fmt):
    """``lo–hi`` of the values (one number when they print alike); "-" without values."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    lo, hi = fmt(min(values)), fmt(max(values))
    return lo if lo == hi else f"{lo}–{hi}"


def _cell(parts, units):
    """Groups joined by " / ", the unit once at the end when every group has the same."""
    if all(p == "-" for p in parts):
        return ""
    if len(set(units)) == 1:
        return " / ".join(parts) + (f" {units[0]}" if units[0] else "")
    return " / ".join(f"{p} {u}".strip() for p, u in zip(parts, units))


def _results(docs, pattern):
    return [
        r["result"]
        for d in docs
        for r in d["results"]
        if fnmatch.fnmatchcase(r["id"], pattern) and "error" not in r["result"]
    ]


def _row(label, columns, units):
    """A table row: ``columns`` = the value columns then the ratio columns, each a list of
    per-group value lists."""
    cells = [_cell([_span(g, _num) for g in col], units) for col in columns[:VALUES]]
    cells += [
        _cell([_span(g, lambda x: f"{x:.2f}") for g in col], [""]) for col in columns[VALUES:]
    ]
    return [label, *cells]


def micro_rows(docs):
    rows = []
    for label, groups in ROWS:
        columns = [[[] for _ in groups] for _ in range(VALUES + RATIOS)]
        for gi, (pattern, get, _unit) in enumerate(groups):
            for res in _results(docs, pattern):
                values, ratios = get(res)
                for ci, x in enumerate(values + ratios):
                    columns[ci][gi].append(x)
        if any(x is not None for col in columns for g in col for x in g):
            rows.append(_row(label, columns, [u for _, _, u in groups]))
    return rows


def scale_row(docs):
    """cost per event with N big / with N = 100, per implementation, from each run's pair."""
    per_impl, big = [[] for _ in range(3)], set()
    for d in docs:
        pair = sorted(
            (r["spec"]["params"]["N"], r["result"])
            for r in d["results"]
            if r["spec"]["case"] == "scale"
            and r["spec"]["backend"] == "epoll"
            and "error" not in r["result"]
        )
        if len(pair) < 2:
            continue
        (_, small), (n, large) = pair[0], pair[-1]
        big.add(n)
        for i, (x, y) in enumerate(zip(small["values"], large["values"])):
            if x and y:
                per_impl[i].append(y / x)
    if not big:
        return []
    label = "100 ready with {} vs 100 registered (cost ratio)".format(
        " / ".join(f"{n:,}" for n in sorted(big))
    )
    return [
        [label]
        + ["×" + _span(v, lambda x: f"{x:.2f}") if v else "" for v in per_impl]
        + [""] * RATIOS
    ]


def echo_rows(docs):
    """One row per echo case and load setup (clients, Python or native, pinned or not)."""
    found = {}
    for d in docs:
        pin = d.get("options", {}).get("pin", False)
        for r in d["results"]:
            res = r["result"]
            if r["spec"]["kind"] != "echo" or "error" in res:
                continue
            key = (r["spec"]["case"], res["clients"], res.get("load_client", "python"), pin)
            found.setdefault(key, []).append(res)
    rows = []
    for (case, clients, client, pin), runs in found.items():
        rps = [[statistics.median(s["rps"] for s in side) for side in res["runs"]] for res in runs]
        cpu = [
            [statistics.median(s["server_cpu_us_per_req"] for s in side) for side in res["runs"]]
            for res in runs
            if all("server_cpu_us_per_req" in s for side in res["runs"] for s in side)
        ]
        label = "{}, {} {} clients{}: req/s{}".format(
            ECHO_LABELS.get(case, case),
            clients,
            client,
            ", `--pin`" if pin else "",
            " / server CPU per request" if cpu else "",
        )
        cells = []
        for i in range(2):
            parts = [_span([x[i] for x in rps], _num)]
            if cpu:
                parts.append(_span([x[i] for x in cpu], lambda v: f"{v:.1f}") + " µs")
            cells.append(" / ".join(parts))
        ratios = [_span([b / a for a, b in rps], lambda v: f"{v:.3f}")]
        if cpu:
            ratios.append(_span([b / a for a, b in cpu], lambda v: f"{v:.2f}"))
        rows.append([label, *cells, "", " / ".join(ratios), "", ""])
    return rows


def markdown_table(docs):
    rows = micro_rows(docs) + scale_row(docs) + echo_rows(docs)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    docs = []
    for path in argv:
        with open(path) as f:
            docs.append(json.load(f))
    print(markdown_table(docs), end="")
    return 0
