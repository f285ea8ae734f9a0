"""Pareto fronts of a sweep and its report (PNG per network + one HTML page).

Why fronts: a sweep's question is which configurations are worth building, i.e. those no other
point beats on both speed and cost. For each network and each cost axis (PEs, LUT or generic
cells, DSP, on-chip RAM, DRAM bandwidth) the front is the set of points with more fps than every
cheaper point. Points are coloured by array shape (ROWSxCOLS) and marked by word width.
"""
from __future__ import annotations

import html
import json
import math
import os

MARKERS = {1: "v", 2: "^", 4: "o", 8: "s", 16: "D"}


def front(rows: list, x: str, y: str = "fps") -> list:
    """Rows on the front: minimise `x`, maximise `y` (ties on x: the fastest only)."""
    pts = [r for r in rows if _finite(r.get(x)) and _finite(r.get(y))]
    pts.sort(key=lambda r: (r[x], -r[y]))
    out, best = [], -math.inf
    for r in pts:
        if r[y] > best:
            out.append(r)
            best = r[y]
    return out


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def axes(rows: list) -> list:
    """(column, label) of every cost axis the rows have figures for."""
    have = {c for r in rows for c, v in r.items() if _finite(v)}
    out = [("pes", "PEs (ROWS x COLS)")]
    if "LUT" in have:
        out.append(("LUT", "LUT (yosys synth_xilinx)"))
    elif "cells" in have:
        out.append(("cells", "cells (yosys generic)"))
    if "DSP" in have:
        out.append(("DSP", "DSP (yosys synth_xilinx)"))
    out.append(("ram_bits", "on-chip RAM (bits)"))
    if "bw_gbs" in have:
        out.append(("bw_gbs", "DRAM bandwidth (GB/s)"))
    return out


def _plot(net, rows, axs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shapes = sorted({r["shape"] for r in rows}, key=lambda s: [int(t) for t in s.split("x")])
    cmap = plt.get_cmap("tab10" if len(shapes) <= 10 else "tab20")
    color = {s: cmap(i % cmap.N) for i, s in enumerate(shapes)}
    n = len(axs)
    cols = 2 if n > 1 else 1
    fig, grid = plt.subplots(-(-n // cols), cols, figsize=(6 * cols, 4 * -(-n // cols)),
                             squeeze=False)
    for ax, (x, label) in zip(grid.flat, axs):
        for r in rows:
            if _finite(r.get(x)):
                ax.scatter(r[x], r["fps"], color=color[r["shape"]], s=28, alpha=0.85,
                           marker=MARKERS.get(r["bits"], "o"), edgecolors="none")
        f = front(rows, x)
        ax.step([r[x] for r in f], [r["fps"] for r in f], "k--", where="post", lw=1,
                label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("fps")
        ax.grid(alpha=0.3)
    for ax in list(grid.flat)[n:]:
        ax.axis("off")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], ls="", marker="o", color=color[s], label=s) for s in shapes]
    handles += [Line2D([], [], ls="", marker=MARKERS.get(b, "o"), color="gray", label=f"{b}-bit")
                for b in sorted({r["bits"] for r in rows})]
    handles.append(Line2D([], [], ls="--", color="k", label="Pareto front"))
    fig.legend(handles=handles, loc="upper right", fontsize=7, ncol=1)
    fig.suptitle(f"{net}: fps against cost ({len(rows)} points)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.9, 0.96))
    tmp = path + ".tmp"
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def _html_table(rows, cols) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def report(rows: list, out_dir: str, spec=None) -> dict:
    """pareto_<network>.png per network, pareto.json (the fronts) and report.html."""
    ok = [r for r in rows if r["status"] == "ok"]
    nets = sorted({r["network"] for r in ok})
    fronts, pngs = {}, {}
    for net in nets:
        rs = [r for r in ok if r["network"] == net]
        axs = axes(rs)
        safe = "".join(c if c.isalnum() or c in "-_@." else "_" for c in net)
        pngs[net] = os.path.join(out_dir, f"pareto_{safe}.png")
        _plot(net, rs, axs, pngs[net])
        fronts[net] = {x: [dict(shape=r["shape"], bits=r["bits"], dram=r["dram"], x=r[x],
                                fps=r["fps"]) for r in front(rs, x)] for x, _ in axs}
    tmp = os.path.join(out_dir, "pareto.json.tmp")
    with open(tmp, "w") as f:
        json.dump(fronts, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, "pareto.json"))
    path = os.path.join(out_dir, "report.html")
    _write_html(path, rows, ok, fronts, pngs)
    return dict(plots=pngs, pareto=os.path.join(out_dir, "pareto.json"), report=path)


def _write_html(path, rows, ok, fronts, pngs):
    cols = [c for c in ("network", "shape", "bits", "dram", "fps", "engine_fps", "pes", "LUT",
                        "DSP", "cells", "ram_bits", "dram_bytes", "dram_gbs_needed",
                        "memory_bound_layers", "bit_exact") if any(c in r for r in rows)]
    parts = ["<!doctype html><meta charset='utf-8'><title>dsf sweep</title>",
             "<style>body{font-family:sans-serif}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px}</style>",
             f"<h1>dsf sweep: {len(rows)} points, {len(ok)} ok</h1>"]
    for net, png in pngs.items():
        parts.append(f"<h2>{html.escape(net)}</h2><img src='{html.escape(os.path.basename(png))}'>")
        for x, pts in fronts[net].items():
            parts.append(f"<h3>Pareto front: fps against {html.escape(x)}</h3>"
                         + _html_table(pts, ["shape", "bits", "dram", "x", "fps"]))
    parts.append("<h2>All points (fastest first)</h2>"
                 + _html_table(sorted(ok, key=lambda r: -r["fps"]), cols))
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        parts.append("<h2>Infeasible and failed points</h2>"
                     + _html_table(bad, ["network", "shape", "bits", "dram", "status", "reason"]))
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(parts))
    os.replace(path + ".tmp", path)
