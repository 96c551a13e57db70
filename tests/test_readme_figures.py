"""Every figure in the README comes from a committed results file named beside it.

A table with figures must name at least one `benches/results/...` file in the paragraph before
or after it, and so must a paragraph with figures that names one; each figure (a number with a
decimal point or a unit, or a range of them) must be one of that file's numbers, as printed
or rounded to the README's precision. A figure that no file backs, or a results file that is
not in the repository, fails: the two cannot drift apart unnoticed.
"""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")

RESULTS = re.compile(r"benches/results/([\w.\-{},]+)")
# A figure: a number with a decimal point, or followed by a unit, optionally a range "a–b".
NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
UNIT = r"(?:\s?(?:ns|µs|us|ms|s|%|×|KiB|MiB|kB|B|req/s|k)\b|%)"
FIGURE = re.compile(
    rf"(?<![\w.\-/=])({NUMBER})(?:\s?[–-]\s?({NUMBER}))?({UNIT})?(?![\w.])"
)


def expand(name):
    """`2026-11-29-cp311-default-{a,b}.txt` -> both names."""
    m = re.search(r"\{([^}]*)\}", name)
    if not m:
        return [name.rstrip(".,;:)")]
    return [n for alt in m.group(1).split(",")
            for n in expand(name[: m.start()] + alt + name[m.end():])]


def blocks(text):
    """(kind, first line number, text) for each paragraph or table of the README."""
    out, current, kind, start = [], [], None, 0
    for i, line in enumerate(text.splitlines(), 1):
        this = "table" if line.startswith("|") else ("blank" if not line.strip() else "text")
        if this == "text" and line.startswith("```"):
            this = "code"
        if kind is not None and (this != kind or this == "blank"):
            if kind in ("table", "text"):
                out.append((kind, start, "\n".join(current)))
            current, kind = [], None
        if this != "blank":
            if kind is None:
                kind, start = this, i
            current.append(line)
    if kind in ("table", "text"):
        out.append((kind, start, "\n".join(current)))
    return out


def figures(text):
    """The figures of a block: (token, value, decimals) for each number that has a decimal
    point or a unit (plain counts, versions and options are not figures)."""
    text = re.sub(r"`[^`]*`", " ", text)  # code: commands, options, names
    text = re.sub(r"\d{4}-\d{2}-\d{2}", " ", text)  # dates
    text = re.sub(r"\d+\.\d+\.\d+", " ", text)  # versions x.y.z
    text = re.sub(r"(?:glibc|CPython|Python|Linux)\s*[≥>=]*\s*\d+(?:\.\d+)?", " ", text)
    text = re.sub(r"\b3\.\d{1,2}t?\b\+?", " ", text)  # Python versions: 3.9, 3.14t, 3.12+
    found = []
    for m in FIGURE.finditer(text):
        low, high, unit = m.group(1), m.group(2), m.group(3)
        if not (unit or high or "." in low):
            continue
        for token in filter(None, (low, high)):
            plain = token.replace(",", "")
            decimals = len(plain.split(".")[1]) if "." in plain else 0
            found.append((token, float(plain), decimals))
    return found


def file_numbers(names):
    values = set()
    for name in names:
        path = os.path.join(ROOT, "benches", "results", name)
        assert os.path.exists(path), f"README names {name}, which is not committed"
        with open(path, encoding="utf-8", errors="replace") as f:
            for token in re.findall(NUMBER, f.read()):
                values.add(float(token.replace(",", "")))
    return values


def backed(value, decimals, values):
    return any(round(v, decimals) == value for v in values)


def checked_blocks():
    with open(README, encoding="utf-8") as f:
        bl = blocks(f.read())
    for i, (kind, line, text) in enumerate(bl):
        names = [n for m in RESULTS.finditer(text) for n in expand(m.group(1))]
        if kind == "table":
            for j in (i - 1, i - 2, i + 1):  # the paragraphs around it
                if 0 <= j < len(bl) and bl[j][0] == "text":
                    names += [n for m in RESULTS.finditer(bl[j][2]) for n in expand(m.group(1))]
        figs = figures(text)
        if figs and (kind == "table" or names):
            yield line, kind, sorted(set(names)), figs


CHECKED = list(checked_blocks())


def test_there_is_something_to_check():
    assert len(CHECKED) >= 4


@pytest.mark.parametrize(("line", "kind", "names", "figs"), CHECKED,
                         ids=[f"README:{c[0]}" for c in CHECKED])
def test_figures_come_from_results_files(line, kind, names, figs):
    assert names, f"README line {line}: a {kind} with figures names no benches/results/ file"
    values = file_numbers(names)
    missing = [token for token, value, decimals in figs if not backed(value, decimals, values)]
    assert not missing, f"README line {line}: {missing} are in none of {names}"
