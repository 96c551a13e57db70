"""The chart (``--png``): B's time relative to A per micro case, the floor as the limit.

One panel per backend, one bar per micro case: B's median over A's (below 1.0 = faster than
A). Where the C floor ran, a black line across the bar marks the floor's own ratio to A, the
lowest the bar could go, and the label says how far above it B is. Needs matplotlib, which
only this module imports.
"""

from .cases import fmt_params
from .common import class_name, label


def _panels(results):
    """``{backend: [(case label, B/A, C/A or None, B/C or None)]}`` of the micro results."""
    panels = {}
    for spec, res in results:
        if spec["kind"] != "micro" or "error" in res:
            continue
        v = res["values"]
        floor = v[2] / v[0] if len(v) > 2 and v[2] is not None and v[0] else None
        row = (f"{spec['case']} {fmt_params(spec)}", res["ratio"], floor, res.get("ratio_floor"))
        panels.setdefault(spec["backend"], []).append(row)
    return panels


def write_png(results, names, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    panels = _panels(results)
    if not panels:
        raise RuntimeError("no micro results to plot")
    sizes = [len(rows) for rows in panels.values()]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(10, 1.2 + 0.26 * sum(sizes) + 0.6 * len(panels)),
        gridspec_kw={"height_ratios": sizes},
        sharex=True,
        squeeze=False,
    )
    top = max(max(r, f or 0) for rows in panels.values() for _, r, f, _ in rows)
    a, b = label(names[0]), label(names[1])
    for ax, (backend, rows) in zip(axes[:, 0], panels.items()):
        ys = range(len(rows))
        ax.barh(ys, [r for _, r, _, _ in rows], height=0.7, color="tab:blue")
        for y, (_, r, f, bf) in zip(ys, rows):
            if f is not None:
                ax.plot([f, f], [y - 0.42, y + 0.42], color="black", linewidth=2.5)
            text = f" {r:.2f}" + (f"  ({bf:.2f}x the floor)" if bf else "")
            ax.text(r, y, text, va="center", fontsize=7)
        ax.axvline(1.0, color="tab:gray", linestyle="--", linewidth=1)
        ax.set_yticks(list(ys))
        ax.set_yticklabels([name for name, _, _, _ in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(class_name(backend), fontsize=9, loc="left")
        ax.grid(True, axis="x", alpha=0.3)
    axes[-1, 0].set_xlim(0, max(1.05, top) * 1.3)
    axes[-1, 0].set_xlabel(f"time relative to {a} (median / median; lower is better)")
    handles = [
        Patch(color="tab:blue", label=f"{b} / {a}"),
        Line2D([], [], color="gray", linestyle="--", label=f"{a} (1.0)"),
    ]
    if len(names) > 2:
        handles.append(Line2D([], [], color="black", linewidth=2.5, label="C floor / " + a))
    axes[0, 0].legend(handles=handles, fontsize=7, loc="lower right")
    fig.suptitle(f"{b} vs {a}, per micro case, interleaved medians", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the title
    fig.savefig(path, dpi=100)
    plt.close(fig)
