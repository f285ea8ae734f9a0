"""`dsf bench` / `dsf profile`: tables, JSON, CSV and plots (architecture §12)."""
from __future__ import annotations

import csv
import json
import os

from ..assets import config_path
from ..compiler.hardware import Hardware
from . import bench as B
from .bounds import network_bound

KRAKEN_REF = {"alexnet": 336.6, "vgg16": 17.5, "resnet50": 64.2}


def load_hw(hw_path, bits=None):
    """Hardware from a JSON file, optionally with bits_input/bits_weights changed to `bits`
    (16-bit words get 48-bit sums and 64-bit firmware integers: a 16x16-bit product alone
    needs 33 bits, a 3x3x512 kernel 13 more)."""
    hw = Hardware.from_json(config_path(hw_path))
    if bits and bits != hw.X_BITS:
        d = hw.to_dict()
        d["bits_input"] = d["bits_weights"] = bits
        d["bits_sum"] = 48 if bits == 16 else max(d["bits_sum"], 2 * bits + 1)
        if d["bits_sum"] > 32:
            d["target_cpu_int_bits"] = 64
        hw = Hardware.from_dict(d)
    return hw


def engine_layers(model, hw, exact=False, progress=True, post="auto"):
    layers = B.layer_list(model, hw, post)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(layers), desc=f"cycle model (post {post})", unit="layer",
                   leave=False)
    B.simulate(layers, hw, exact=exact, progress=(lambda lp: bar.update(1)) if bar else None)
    if bar:
        bar.close()
    return layers


COLS = ["idx", "name", "kernel", "engine_kernel", "CI_E", "CO", "CP", "IT", "macs", "cycles",
        "time_us", "utilisation", "bound", "analytic_cycles", "analytic_error", "weight_bytes",
        "pixel_bytes", "output_bytes", "skip_bytes", "intensity", "finish", "post_reason"]
OFF_COLS = ["cycles", "time_us", "utilisation", "bound", "output_bytes", "soc_time_us",
            "cpu_time_us"]   # repeated with prefix off_ when post processing is compared
POST_CHOICES = ("both", "auto", "off")


def _system(layers, hw, dram, cpu):
    from ..models.soc_model import SocConfig, run_soc
    soc = run_soc(layers, hw, SocConfig.preset(dram, cpu))
    rows = []
    for lp, ts, cs, m in zip(layers, soc.layer_s, soc.layer_cpu_s, soc.memory_bound()):
        d = {k: getattr(lp, k) for k in COLS}
        d["soc_time_us"] = ts * 1e6
        d["cpu_time_us"] = cs * 1e6
        d["memory_bound"] = bool(m)
        rows.append(d)
    summary = dict(fps=soc.fps, time_ms=soc.total_s * 1e3, stalls_s=soc.stalls_s,
                   channel_bytes=soc.channel_bytes, channel_busy_s=soc.channel_busy_s,
                   cpu_ms=sum(soc.layer_cpu_s) * 1e3)
    return soc, rows, summary


def op_share(layers, rows, summary, cpu) -> dict:
    """Share of the frame time in the transformer operations (architecture §22): the engine
    time of matmul cores (their layer time less its CPU part), and the CPU time of the
    softmax / LayerNorm / GELU stages as the SoC model charges them (CPU_PRESETS); the rest is
    every other layer's time. {} when the model has none of them."""
    from ..models.soc_model import CPU_PRESETS, fn_cpu_cycles
    if not any(lp.fn or lp.mm_pack_elems for lp in layers):
        return {}
    c = CPU_PRESETS.get(cpu) if isinstance(cpu, str) else cpu
    total = summary["time_ms"] * 1e3
    out = {"matmul": 0.0, "softmax": 0.0, "layernorm": 0.0, "gelu": 0.0}
    for lp, r in zip(layers, rows):
        if lp.mm_pack_elems:
            out["matmul"] += max(0.0, r["soc_time_us"] - r["cpu_time_us"])
        if lp.fn and c:
            out[lp.fn] += fn_cpu_cycles(lp, c) / (c["ghz"] * 1e3)
    out = {k: v / total for k, v in out.items()} if total > 0 else out
    out["other"] = max(0.0, 1.0 - sum(out.values()))
    return out


def run_bench(model, name, hw, hw_name, dram="ideal", input_size=None, out=None, cpu=None,
              exact=False, plots=True, progress=True, timeline_layer=None, reference_fps=None,
              post="both"):
    """Per-layer engine cycles (cycle model) + SoC/DRAM/CPU model of `model` on `hw`; JSON/CSV
    and plots into `out`. `reference_fps`: a published figure to print beside ours.
    `post`: 'auto' (the engine finishes what the export would let it), 'off' (every bundle raw,
    the firmware finishes), 'both' ('auto' with 'off' beside it: res['post_off'], off_* columns)."""
    if post not in POST_CHOICES:
        from ..errors import DsfError
        raise DsfError(f"post = {post!r} is invalid: allowed one of {list(POST_CHOICES)}")
    cpu = cpu or ("none" if dram == "ideal" else "a53")
    layers = engine_layers(model, hw, exact=exact, progress=progress,
                           post="off" if post == "off" else "auto")
    tot = B.totals(layers, hw)
    nb = network_bound(layers, hw)      # the most any lowering could get (perf/bounds.py)
    tot["bound_fps"] = nb["bound_fps"]
    soc, rows, summary = _system(layers, hw, dram, cpu)
    for r, b in zip(rows, nb["layers"]):
        r["bound_utilisation"] = b["macs"] / (hw.ROWS * hw.COLS * b["bound_cycles"])
    res = dict(network=name, hw=hw_name, bits=hw.X_BITS,
               input_size=input_size, dram=dram, cpu=cpu, frequency_mhz=hw.frequency_mhz,
               pes=hw.ROWS * hw.COLS, post="off" if post == "off" else "auto", engine=tot,
               soc=summary, kraken_fps=reference_fps, layers=rows)
    share = op_share(layers, rows, summary, cpu)
    if share:
        res["op_share"] = share
    if post == "both":
        off = engine_layers(model, hw, exact=exact, progress=progress, post="off")
        _, off_rows, off_summary = _system(off, hw, dram, cpu)
        res["post_off"] = dict(engine=B.totals(off, hw), soc=off_summary)
        for r, o in zip(rows, off_rows):
            r.update({"off_" + k: o[k] for k in OFF_COLS})
    if out:
        os.makedirs(out, exist_ok=True)
        stem = f"{name}_{hw.X_BITS}b_{dram}"
        _write_json(os.path.join(out, stem + ".json"), res)
        tmp = os.path.join(out, stem + ".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, os.path.join(out, stem + ".csv"))
        if plots:
            res["plots"] = make_plots(res, layers, soc, hw, out, stem, timeline_layer)
    return res


def _mb(n):
    return f"{n / 1e6:.1f}"


def format_table(res) -> str:
    off = res.get("post_off")
    L = [f"{res['network']} on {res['hw']} ({res['pes']} PEs @ {res['frequency_mhz']} MHz), "
         f"{res['bits']}-bit, DRAM {res['dram']}, CPU {res['cpu']}, post-processing "
         f"{res['post']}" + (" (off beside it)" if off else ""),
         f"{'#':>3} {'layer':<12} {'k/s':<8} {'eng k':<6} {'CP':>3} {'IT':>3} {'MMAC':>8} "
         f"{'cycles':>9} {'us':>8} {'util':>5} {'bound':<7} {'an.err':>7} {'AI':>6} {'soc us':>8} "
         f"{'cpu us':>7} post mem" + (f" {'off soc':>8} {'off cpu':>8}" if off else "")]
    for r in res["layers"]:
        k = r["kernel"]
        L.append(f"{r['idx']:>3} {r['name']:<12} {f'{k[0]}x{k[1]}/{k[2]}':<8} "
                 f"{'x'.join(map(str, r['engine_kernel'])):<6} {r['CP']:>3} {r['IT']:>3} "
                 f"{r['macs'] / 1e6:>8.1f} {r['cycles']:>9} {r['time_us']:>8.1f} "
                 f"{r['utilisation']:>5.2f} {r['bound']:<7} {r['analytic_error']:>+7.3%} "
                 f"{r['intensity']:>6.1f} {r['soc_time_us']:>8.1f} {r['cpu_time_us']:>7.1f} "
                 f"{'fin ' if r['finish'] else 'raw '} {'*' if r['memory_bound'] else ' ':<3}"
                 + (f" {r['off_soc_time_us']:>8.1f} {r['off_cpu_time_us']:>8.1f}" if off else ""))
    e, s = res["engine"], res["soc"]
    L.append(f"total: {e['macs'] / 1e9:.3f} GMAC, {e['cycles']} cycles, {e['time_ms']:.3f} ms, "
             f"engine-only {e['fps']:.1f} fps (util {e['utilisation']:.1%}, ideal "
             f"{e['ideal_fps']:.1f} fps, mapping bound {e['bound_fps']:.1f} fps, analytic error "
             f"{e['analytic_error']:+.3%}); "
             f"with DRAM {res['dram']} + CPU {res['cpu']}: {s['fps']:.1f} fps")
    fin = sum(1 for r in res["layers"] if r["finish"])

    def traffic(sm):
        return ", ".join(f"{k} {_mb(v)}" for k, v in sm["channel_bytes"].items())
    L.append(f"post-processing {res['post']}: {fin}/{len(res['layers'])} bundles finished on "
             f"chip, CPU {s['cpu_ms']:.2f} ms/frame, DRAM MB/frame: {traffic(s)}")
    if off:
        oe, os_ = off["engine"], off["soc"]
        L.append(f"post-processing off: engine-only {oe['fps']:.1f} fps, with DRAM {res['dram']}"
                 f" + CPU {res['cpu']}: {os_['fps']:.1f} fps, CPU {os_['cpu_ms']:.2f} ms/frame, "
                 f"DRAM MB/frame: {traffic(os_)}  -> on/off system speed-up "
                 f"{s['fps'] / os_['fps']:.2f}x")
    if res.get("op_share"):
        L.append("share of the frame: " + ", ".join(f"{k} {v:.1%}"
                                                     for k, v in res["op_share"].items()))
    reasons = {}
    for r in res["layers"]:
        if not r["finish"]:
            reasons.setdefault(r["post_reason"], []).append(r["name"])
    for why, names in reasons.items():
        L.append(f"  raw ({len(names)}): {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}"
                 f" -- {why}")
    if res.get("kraken_fps"):
        L.append(f"Kraken paper (7x96 @ 400 MHz): {res['kraken_fps']} fps | ours engine-only "
                 f"{e['fps']:.1f} fps ({e['fps'] / res['kraken_fps']:.2f}x)")
    return "\n".join(L)


def make_plots(res, layers, soc, hw, out, stem, timeline_layer=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = res["layers"]
    names = [r["name"] for r in rows]
    x = range(len(rows))
    colors = {"mac": "tab:green", "output": "tab:red", "pixels": "tab:blue", "weights": "tab:orange"}
    paths = {}
    fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(rows) + 3), 4))
    ax.bar(x, [r["utilisation"] for r in rows], color=[colors[r["bound"]] for r in rows])
    ax.set_xticks(list(x), names, rotation=90, fontsize=6)
    ax.set_ylabel("PE utilisation")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{res['network']} {res['bits']}-bit on {res['hw']}: "
                 f"{res['engine']['fps']:.1f} fps engine-only")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=c, label=f"{k}-bound") for k, c in colors.items()], fontsize=7)
    fig.tight_layout()
    paths["utilisation"] = os.path.join(out, stem + "_util.png")
    fig.savefig(paths["utilisation"], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(rows) + 3), 4))
    bot = [0.0] * len(rows)
    for key, c in (("weight_bytes", "tab:orange"), ("pixel_bytes", "tab:blue"),
                   ("output_bytes", "tab:red"), ("skip_bytes", "tab:purple")):
        v = [r[key] / 1e6 for r in rows]
        ax.bar(x, v, bottom=bot, color=c, label=key.split("_")[0])
        bot = [a + b for a, b in zip(bot, v)]
    ax.set_xticks(list(x), names, rotation=90, fontsize=6)
    ax.set_ylabel("DRAM traffic (MB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths["traffic"] = os.path.join(out, stem + "_traffic.png")
    fig.savefig(paths["traffic"], dpi=110)
    plt.close(fig)

    peak = hw.ROWS * hw.COLS * hw.frequency_mhz * 1e6 / 1e9  # GMAC/s
    fig, ax = plt.subplots(figsize=(6, 4))
    import numpy as np
    ai = np.logspace(-1, 3, 100)
    for bw, ls in ((19.2, "--"), (12.8, ":")):
        ax.loglog(ai, np.minimum(peak, ai * bw), ls, color="gray", label=f"roof {bw} GB/s")
    pts_ai = [max(r["intensity"], 1e-3) for r in rows]
    pts_p = [r["macs"] / (r["time_us"] * 1e3) for r in rows]
    ax.scatter(pts_ai, pts_p, c=[colors[r["bound"]] for r in rows], s=14)
    ax.axhline(peak, color="k", lw=0.8)
    ax.set_xlabel("arithmetic intensity (MAC / DRAM byte)")
    ax.set_ylabel("GMAC/s (engine-only)")
    ax.set_title(f"roofline {res['network']} on {res['hw']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths["roofline"] = os.path.join(out, stem + "_roofline.png")
    fig.savefig(paths["roofline"], dpi=110)
    plt.close(fig)

    if res.get("post_off"):
        paths["post"] = _post_plot(res, out, stem, plt)

    li = timeline_layer if timeline_layer is not None else max(
        range(len(rows)), key=lambda i: rows[i]["soc_time_us"])
    paths["timeline"] = _lane_chart(
        plt, [t for t in soc.timeline if t[1] == li], ["weights", "pixels", "output"], 1e6, "us",
        list(colors.values())[1:], f"DMA bursts, layer {li} ({rows[li]['name']}), DRAM "
        f"{res['dram']}", os.path.join(out, stem + "_timeline.png"), (8, 2.6))
    return paths


def _lane_chart(plt, events, lanes, scale, unit, colors, title, path, figsize):
    """A broken-bar chart of (lane, bundle, start_s, end_s) events, one row per lane."""
    fig, ax = plt.subplots(figsize=figsize)
    for i, lane in enumerate(lanes):
        segs = [(s0 * scale, max((e - s0) * scale, 1e-4 * scale / 1e6)) for c, _, s0, e in events
                if c == lane]
        ax.broken_barh(segs[:50000], (i - 0.4, 0.8), color=colors[i])
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_xlabel(f"time ({unit})")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _post_plot(res, out, stem, plt):
    """Post-processing on vs off: per-layer system and CPU time (raw bundles hatched, numbered by
    the reason they fell back) and DRAM bytes per channel per frame."""
    import numpy as np
    rows = res["layers"]
    x = np.arange(len(rows))
    reasons = []
    for r in rows:
        if not r["finish"] and r["post_reason"] not in reasons:
            reasons.append(r["post_reason"])
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(max(7, 0.28 * len(rows) + 3), 7.5),
                                  gridspec_kw=dict(height_ratios=[2, 1]))
    w = 0.4
    on_t = [r["soc_time_us"] for r in rows]
    on_c = [r["cpu_time_us"] for r in rows]
    ax.bar(x - w / 2, [r["off_soc_time_us"] for r in rows], w, color="lightgray",
           label="system time, post off")
    ax.bar(x - w / 2, [r["off_cpu_time_us"] for r in rows], w, color="gray",
           label="of which CPU, post off")
    hatch = ["" if r["finish"] else "//" for r in rows]
    ax.bar(x + w / 2, on_t, w, color="lightsteelblue", hatch=hatch, edgecolor="k", lw=0.3,
           label="system time, post on")
    ax.bar(x + w / 2, on_c, w, color="tab:blue", label="of which CPU, post on")
    top = max(max(on_t), max(r["off_soc_time_us"] for r in rows)) or 1.0
    for i, r in enumerate(rows):
        if not r["finish"]:
            ax.text(i + w / 2, on_t[i] + 0.01 * top, str(reasons.index(r["post_reason"]) + 1),
                    ha="center", fontsize=6, color="tab:red")
    ax.set_xticks(list(x), [r["name"] for r in rows], rotation=90, fontsize=6)
    ax.set_ylabel("time per frame (us)")
    on, off = res["soc"]["fps"], res["post_off"]["soc"]["fps"]
    ax.set_title(f"{res['network']} {res['bits']}-bit on {res['hw']}, DRAM {res['dram']}, CPU "
                 f"{res['cpu']}: post on {on:.1f} fps, off {off:.1f} fps (hatched: raw bundle)",
                 fontsize=8)
    ax.legend(fontsize=6, loc="upper right")
    if reasons:
        ax.text(0.01, 0.98, "\n".join(f"{i + 1}: {t[:110]}" for i, t in enumerate(reasons)),
                transform=ax.transAxes, va="top", fontsize=5.5, color="tab:red")
    chans = list(res["soc"]["channel_bytes"])
    cx = np.arange(len(chans))
    ax2.bar(cx - w / 2, [res["post_off"]["soc"]["channel_bytes"].get(c, 0) / 1e6 for c in chans],
            w, color="gray", label="post off")
    ax2.bar(cx + w / 2, [res["soc"]["channel_bytes"][c] / 1e6 for c in chans], w,
            color="tab:blue", label="post on")
    ax2.set_xticks(list(cx), chans)
    ax2.set_ylabel("DRAM MB per frame")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out, stem + "_post.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def attribution_rows(layers, soc) -> list:
    """Per layer: its span and the parts that add up to it (SocResult.attribution), in us."""
    rows = []
    for li, lp in enumerate(layers):
        parts = soc.attribution(li)
        rows.append(dict(idx=li, name=lp.name, layer_us=soc.layer_s[li] * 1e6,
                         cpu_busy_us=soc.layer_cpu_s[li] * 1e6,
                         parts_us={k: v * 1e6 for k, v in parts.items() if v > 0}))
    return rows


def _cause_totals(rows) -> dict:
    tot = {}
    for r in rows:
        for k, v in r["parts_us"].items():
            tot[k] = tot.get(k, 0.0) + v
    return dict(sorted(tot.items(), key=lambda t: -t[1]))


def _stall_plots(name, hw, res, rows, soc, out, stem):
    """A stacked bar per layer (compute, each channel's stall causes, firmware) and the frame's
    timeline (DMA channels, engine jobs, firmware)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = list(_cause_totals(rows))
    keys = ["compute"] + [k for k in keys if k not in ("compute", "firmware")] + ["firmware"]
    cmap = plt.get_cmap("tab20")
    free = [i for i in range(20) if i not in (4, 5, 14, 15)]   # greens / greys are taken
    colors = {k: ("tab:green" if k == "compute" else "tab:gray" if k == "firmware"
                  else cmap(free[i % len(free)])) for i, k in enumerate(keys)}
    fig, ax = plt.subplots(figsize=(max(7, 0.22 * len(rows) + 3), 4.5))
    x = range(len(rows))
    bot = [0.0] * len(rows)
    for k in keys:
        v = [r["parts_us"].get(k, 0.0) for r in rows]
        if not any(v):
            continue
        ax.bar(x, v, bottom=bot, color=colors[k], label=k.replace(":", ": "))
        bot = [a + b for a, b in zip(bot, v)]
    ax.set_xticks(list(x), [r["name"] for r in rows], rotation=90, fontsize=6)
    ax.set_ylabel("time per layer (us)")
    ax.set_title(f"{name} {hw.X_BITS}-bit on {res['hw']}, {res['dram']} ({res['dram_model']} "
                 f"DRAM model), CPU {res['cpu']}: {res['fps']:.1f} fps", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    paths = {"stalls": os.path.join(out, stem + "_stalls.png")}
    fig.savefig(paths["stalls"], dpi=110)
    plt.close(fig)
    lanes = ["weights", "pixels", "skip", "output", "engine", "cpu"]
    paths["frame_timeline"] = _lane_chart(
        plt, soc.timeline, lanes, 1e3, "ms", [cmap(2 * i) for i in range(len(lanes))],
        f"{name}: one frame, DMA bursts / engine jobs / firmware",
        os.path.join(out, stem + "_frame_timeline.png"), (10, 3))
    return paths


def stall_profile(layers, hw, hw_name, name, dram="ddr4-2400", cpu="none", dram_model="bank",
                  out=None):
    """One frame on the SoC model with `dram_model`, the transaction-level model beside it, and
    the per-layer split of time into compute, DMA/DRAM stalls by channel and cause, firmware."""
    from ..models.soc_model import SocConfig, run_soc
    soc = run_soc(layers, hw, SocConfig.preset(dram, cpu, dram_model=dram_model))
    other = "transaction" if dram_model == "bank" else "bank"
    ref = run_soc(layers, hw, SocConfig.preset(dram, cpu, dram_model=other),
                  record_timeline=False)
    rows = attribution_rows(layers, soc)
    res = dict(network=name, hw=hw_name, bits=hw.X_BITS, dram=dram, dram_model=dram_model,
               cpu=cpu, fps=soc.fps, time_ms=soc.total_s * 1e3,
               **{f"fps_{other}": ref.fps},
               difference_pct=100.0 * (soc.fps - ref.fps) / ref.fps if ref.fps else 0.0,
               dram_counters=soc.dram,
               causes_us=_cause_totals(rows), layers=rows)
    if out:
        os.makedirs(out, exist_ok=True)
        stem = f"{name}_{hw.X_BITS}b_{dram}_{dram_model}"
        res["plots"] = _stall_plots(name, hw, res, rows, soc, out, stem)
        _write_json(os.path.join(out, stem + ".json"), res)
        keys = list(res["causes_us"])
        tmp = os.path.join(out, stem + ".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["idx", "name", "layer_us", "cpu_busy_us"] + keys)
            for r in rows:
                w.writerow([r["idx"], r["name"], f"{r['layer_us']:.3f}",
                            f"{r['cpu_busy_us']:.3f}"]
                           + [f"{r['parts_us'].get(k, 0.0):.3f}" for k in keys])
        os.replace(tmp, os.path.join(out, stem + ".csv"))
    return res


def _write_json(path, obj):
    """Atomic: a reader never sees half a result file."""
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1, default=float)
    os.replace(path + ".tmp", path)


def run_profile(model, name, hw, hw_name, bws, out=None, cpu="none", latency_ns=80.0,
                progress=True, dram="ddr4-2400", dram_model="bank", exact=()):
    """fps against DRAM bandwidth (transaction-level SoC model) and where each layer turns
    memory-bound; then one frame on `dram` with `dram_model` and its per-layer stall split
    (stall_profile); then, for the layers named in `exact`, the cycle-level DMA/DRAM coupling
    of the twin against the SoC model's estimate (exact_layer.exact_check)."""
    from ..models.soc_model import SocConfig, run_soc
    from .exact_layer import exact_check, pick_layers
    layers = engine_layers(model, hw, progress=progress)
    chosen = pick_layers(layers, exact)       # a wrong name fails before the SoC runs
    eng = B.totals(layers, hw)
    pts = []
    turn = {}  # layer -> largest bandwidth at which it is memory-bound
    it = bws
    if progress:
        from tqdm import tqdm
        it = tqdm(bws, desc="bandwidth sweep", leave=False)
    for bw in it:
        r = run_soc(layers, hw, SocConfig.preset(dict(bw_gbs=float(bw), latency_ns=latency_ns,
                                                      rw_shared=True), cpu),
                    record_timeline=False)
        mb = r.memory_bound()
        pts.append(dict(bw_gbs=float(bw), fps=r.fps, memory_bound_layers=int(sum(mb))))
        for lp, m in zip(layers, mb):
            if m:
                turn[lp.name] = max(turn.get(lp.name, 0.0), float(bw))
    res = dict(network=name, hw=hw_name, bits=hw.X_BITS, engine_fps=eng["fps"],
               points=pts, memory_bound_below_gbs=turn)
    res["stalls"] = stall_profile(layers, hw, hw_name, name, dram, cpu, dram_model, out)
    cfg = SocConfig.preset(dram, "none", dram_model=dram_model)
    res["exact"] = [exact_check(lp, hw, cfg) for lp in chosen]
    if out:
        os.makedirs(out, exist_ok=True)
        stem = f"{name}_{hw.X_BITS}b_profile"
        _write_json(os.path.join(out, stem + ".json"), res)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6.5, 4))
        ax.plot([p["bw_gbs"] for p in pts], [p["fps"] for p in pts], "o-", label="SoC model")
        ax.axhline(eng["fps"], color="k", ls="--", lw=0.8, label="engine-only")
        ax.set_xscale("log", base=2)
        for p in pts:
            ax.annotate(str(p["memory_bound_layers"]), (p["bw_gbs"], p["fps"]), fontsize=7,
                        textcoords="offset points", xytext=(3, -10))
        for i, (ln, bw) in enumerate(sorted(turn.items(), key=lambda t: -t[1])[:8]):
            ax.axvline(bw, color="tab:red", alpha=0.25)
            ax.text(bw, eng["fps"] * (0.95 - 0.07 * i), ln, fontsize=6, color="tab:red")
        ax.set_xlabel("DRAM bandwidth (GB/s)")
        ax.set_ylabel("fps")
        ax.set_title(f"{name} {hw.X_BITS}-bit on {res['hw']}: fps vs bandwidth "
                     f"(labels: # memory-bound layers)", fontsize=8)
        ax.legend(fontsize=7)
        fig.tight_layout()
        res["plot"] = os.path.join(out, stem + ".png")
        fig.savefig(res["plot"], dpi=110)
        plt.close(fig)
    return res
