"""Summaries of samples: nearest-rank percentiles, median and spread."""

import math
import statistics


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list (q in [0, 100])."""
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(q / 100.0 * len(sorted_values)) - 1)
    return sorted_values[min(k, len(sorted_values) - 1)]


def summarize(samples):
    s = sorted(samples)
    med = statistics.median(s)
    q1, q3 = percentile(s, 25), percentile(s, 75)
    return {
        "median": med,
        "min": s[0],
        "max": s[-1],
        "iqr_pct": 100.0 * (q3 - q1) / med if med else 0.0,
        "n": len(s),
    }
