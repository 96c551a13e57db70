"""The report: machine facts, progress on stderr, the text table, and the README's table.

Implementations are columns A (the baseline, the stdlib by default), B (the one under test,
rselectors) and, with ``--floor``, C (the C floor, micro cases only); every ratio is B over
another column, lower is better for B except for requests per second.
"""

import math
import os
import platform
import statistics
import subprocess
import sys
import time

from .cases import SCALE_N, fmt_params
from .common import import_impl, label, nofile_hard


def fmt_num(x):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if math.isnan(x):
        return "nan"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def machine_info(impls):
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": platform.machine(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        if sys.platform == "darwin":
            try:
                info["cpu"] = (
                    subprocess.run(
                        ["sysctl", "-n", "machdep.cpu.brand_string"],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                        timeout=5,
                        check=False,
                    )
                    .stdout.decode()
                    .strip()
                    or info["cpu"]
                )
            except (OSError, subprocess.SubprocessError):
                pass
    if hasattr(os, "sched_getaffinity"):
        info["cores_usable"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    versions = {}
    for name in impls:
        try:
            mod = import_impl(name)
            versions[name] = getattr(mod, "__version__", None) or (
                "stdlib" if name == "selectors" else "?"
            )
        except ImportError:
            versions[name] = None
    info["impls"] = versions
    return info


class Progress:
    """One status line on stderr (rewritten in place on a terminal)."""

    def __init__(self, total, enabled=True):
        self.total = total
        self.i = 0
        self.t0 = time.monotonic()
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    def step(self, what):
        self.i += 1
        if not self.enabled:
            return
        msg = f"[{self.i:>3}/{self.total}] {time.monotonic() - self.t0:6.1f}s  {what}"
        if self.tty:
            sys.stderr.write("\r\x1b[K" + msg[:150])
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    def done(self):
        if self.enabled and self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


#: a micro case whose repeats spread more than this (IQR, % of the median) is flagged NOISY
NOISY_IQR_PCT = 25

SECTION_TITLES = {
    "micro": "Micro benchmarks (median per op; B/A, B/C, K/A: ratios of the medians, lower is "
    "better for B)",
    "memory": "Memory: RSS delta per registration (ratio lower is better for B)",
    "timeout": "Timeout overshoot of select(t), nothing ready, elapsed - t in us",
    "echo": "End to end echo servers (req/s: ratio higher is better for B; "
    "server CPU us/req: lower is better)",
}


def _ratio(x, y, digits=2):
    return f"{x / y:.{digits}f}" if x is not None and y else "-"


def columns(section, names):
    """``(implementation count, ratio columns as (i, j) pairs)`` of a table section: the C
    column (the floor) is in the micro cases only."""
    n = len(names) if section == "micro" else 2
    return n, [(1, 0)] + [(1, 2)] * (n > 2)


def rows_for(spec, res, names):
    """Table rows (lists of cells) for one result."""
    kind = spec["kind"]
    n, ratios = columns(kind, names)
    base = [spec["case"], spec["backend"], fmt_params(spec)]
    if "error" in res:
        return [base + ["-"] * (1 + n + len(ratios)) + [res["error"]]]
    if kind == "micro":
        iqr = [st["iqr_pct"] for st in res["stats"] if st]
        note = "iqr " + "/".join(f"{x:.0f}%" for x in iqr)
        if max(iqr) > NOISY_IQR_PCT:
            note += " NOISY"
        if res.get("fds") == "dups":
            note += ", dup fds"
        v = res["values"]
        cells = [fmt_num(x) for x in v] + [_ratio(v[i], v[j]) for i, j in ratios]
        if n > 2:
            k = res.get("kernel", {}).get("median")
            cells.insert(n, "-" if k is None else fmt_num(k))
            cells.append("-" if k is None else _ratio(k, v[0]))
        return [base + [res["unit"], *cells, note]]
    if kind == "memory":
        a, b = res["values"]
        note = "{:,} regs in {} selector(s)".format(res["registrations"], res["selectors"])
        return [base + ["B/reg", fmt_num(a), fmt_num(b), _ratio(b, a), note]]
    if kind == "timeout":
        out = []
        sa, sb = res["stats"]
        for stat in ("median", "p99"):
            a, b = sa[stat], sb[stat]
            note = ""
            if sa["early"] or sb["early"]:
                note = "EARLY returns {}/{}".format(sa["early"], sb["early"])
            row = [spec["case"], spec["backend"], fmt_params(spec) + " " + stat]
            out.append(row + ["us", fmt_num(a), fmt_num(b), _ratio(b, a), note])
        return out
    if kind == "echo":
        ra, rb = res["runs"]
        a = statistics.median(r["rps"] for r in ra)
        b = statistics.median(r["rps"] for r in rb)
        params = "{} {} clients, {}x{}s".format(
            res["clients"], res.get("load_client", "python"), len(ra), res["slot_s"]
        )
        spread = "spread " + "/".join(
            "{:.0f}%".format(100 * (max(x["rps"] for x in r) - min(x["rps"] for x in r)) / m)
            if m
            else "-"
            for r, m in ((ra, a), (rb, b))
        )
        rows = [base[:2] + [params, "req/s", fmt_num(a), fmt_num(b), _ratio(b, a, 3), spread]]
        ca = [r["server_cpu_us_per_req"] for r in ra if "server_cpu_us_per_req" in r]
        cb = [r["server_cpu_us_per_req"] for r in rb if "server_cpu_us_per_req" in r]
        if ca and cb:
            a, b = statistics.median(ca), statistics.median(cb)
            util = [statistics.median(r["server_cpu_util"] for r in x) for x in (ra, rb)]
            note = f"server CPU {100 * util[0]:.0f}%/{100 * util[1]:.0f}%"
            rows.append(
                base[:2] + ["", "srv us/req", fmt_num(a), fmt_num(b), _ratio(b, a, 3), note]
            )
        return rows
    return [base + ["?"] * (2 + n + len(ratios))]


def _table_line(cells, widths, right):
    parts = []
    for i, c in enumerate(cells):
        c = str(c)
        parts.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
    return "  ".join(parts).rstrip() + "\n"


def print_table(results, names, info, out=sys.stdout):
    w = out.write
    w("\nMachine: {cpu}, {cores} cores, {kernel}, {python}\n".format(**info))
    if "loadavg" in info:
        w("Load average at start: {}\n".format(" ".join(map(str, info["loadavg"]))))
    w(", ".join(f"{c} = {label(name)} ({name})" for c, name in zip("ABC", names)) + "\n")
    if len(names) > 2:
        w(
            "K = the kernel: the case's bare system calls, timed beside them (0: it makes "
            "none); K/A is the lowest B/A the kernel leaves\n"
        )
    for section in ("micro", "memory", "timeout", "echo"):
        rows = []
        for spec, res in results:
            if spec["kind"] == section:
                rows += rows_for(spec, res, names)
        if not rows:
            continue
        n, ratios = columns(section, names)
        header = ["case", "backend", "params", "unit"]
        header += [f"{c} {label(name)}" for c, name in zip("ABC", names[:n])]
        kernel = section == "micro" and n > 2
        header += ["K kernel"] * kernel
        header += ["B/" + "ABC"[j] for _, j in ratios] + ["K/A"] * kernel + ["note"]
        right = range(4, 4 + n + len(ratios) + 2 * kernel)
        w("\n" + SECTION_TITLES[section] + "\n")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        w(_table_line(header, widths, right))
        w(_table_line(["-" * x for x in widths], widths, right))
        for r in rows:
            w(_table_line(r, widths, right))
    for note in scale_notes(results, names):
        w("\n" + note + "\n")
    out.flush()


def scale_notes(results, names):
    notes = []
    by_backend = {}
    for spec, res in results:
        if spec["case"] == "scale" and "error" not in res:
            by_backend.setdefault(spec["backend"], []).append((spec["params"]["N"], res))
    for backend, items in by_backend.items():
        if len(items) < 2:
            continue
        items.sort(key=lambda x: x[0])
        (n0, r0), (n1, r1) = items[0], items[-1]
        parts = [
            "{} x{:.2f}".format(label(name), r1["values"][i] / r0["values"][i])
            for i, name in enumerate(names)
            if r0["values"][i] and r1["values"][i]
        ]
        notes.append(
            "Scale ({}, 100 ready): cost per event at N={:,} / N={:,}: {}".format(
                backend, n1, n0, ", ".join(parts)
            )
        )
        if n1 < SCALE_N:
            notes.append(
                f"  note: RLIMIT_NOFILE hard limit {nofile_hard():,} < {SCALE_N:,}: scale case used N={n1:,}"
            )
    return notes
