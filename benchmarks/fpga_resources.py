"""Xilinx resource estimates of the engine with yosys `synth_xilinx`, beside the boards' capacity.

For every configuration: LUT (logic + LUT-RAM), FF, DSP, BRAM36 and URAM of the engine alone
(out of context: no DMAs, interconnect or PS), on the family of each board it is compared with.
Writes benchmarks/results/fpga_resources.{json,csv} and fpga_resources.png (utilisation per
board). The runs are independent yosys processes, `--jobs` at a time.

    .venv/bin/python benchmarks/fpga_resources.py [--configs small_4x8,wide_8x24] [--jobs 2]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from dsf_sim.api.hardware import Hardware  # noqa: E402
from dsf_sim.flows.boards import BOARDS  # noqa: E402
from dsf_sim.flows.synth_estimate import synth_estimate  # noqa: E402

# configuration -> the boards it is compared with (their family decides the yosys target)
PLAN = {"small_4x8": ("pynq-z2", "kv260"), "wide_8x24": ("pynq-z2", "kv260", "zcu104"),
        "zcu104": ("zcu104", "zcu102")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="small_4x8,wide_8x24")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--reuse", action="store_true",
                    help="keep the runs of an earlier fpga_resources.json whose configuration "
                         "file is unchanged; synthesise only the others")
    a = ap.parse_args(argv)
    names = a.configs.split(",")
    runs = sorted({(n, BOARDS[b].family) for n in names for b in PLAN.get(n, ("zcu104",))})
    results = {}
    old = os.path.join(a.out, "fpga_resources.json")
    if a.reuse and os.path.exists(old):
        with open(old) as f:
            for r in json.load(f)["runs"]:
                hw = Hardware.from_json(os.path.join(ROOT, "configs", f"{r['config']}.json"))
                if r.get("hardware") == hw.to_dict():
                    results[(r["config"], r["family"])] = r
    runs = [r for r in runs if r not in results]
    work = tempfile.mkdtemp(prefix="dsf_fpga_res_")

    def one(run):
        name, fam = run
        hw = Hardware.from_json(os.path.join(ROOT, "configs", f"{name}.json"))
        t = time.time()
        r = synth_estimate(hw, os.path.join(work, f"{name}_{fam}"), fam)
        return name, fam, hw, r, time.time() - t

    with ThreadPoolExecutor(a.jobs) as ex:
        for name, fam, hw, r, dt in tqdm(ex.map(one, runs), total=len(runs), desc="yosys"):
            results[(name, fam)] = dict(config=name, family=fam, rows=hw.ROWS, cols=hw.COLS,
                                        axi_width=hw.axi_width, bits=hw.bits_input,
                                        ram_weights_depth=hw.ram_weights_depth,
                                        resources=r["resources"], yosys_s=round(dt, 1),
                                        hardware=hw.to_dict())
    rows = []
    for name in names:
        for b in PLAN.get(name, ("zcu104",)):
            bd = BOARDS[b]
            r = results[(name, bd.family)]
            row = dict(config=name, engine=f"{r['rows']}x{r['cols']}", board=b, part=bd.part,
                       family=bd.family)
            for k in ("LUT", "FF", "DSP", "BRAM36", "URAM"):
                used, cap = r["resources"][k], bd.capacity[k]
                row[k] = used
                row[f"{k}_cap"] = cap
                row[f"{k}_pct"] = round(100 * used / cap, 1) if cap else None
            row["yosys_s"] = r["yosys_s"]
            rows.append(row)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "fpga_resources.json"), "w") as f:
        json.dump(dict(runs=list(results.values()), rows=rows), f, indent=1)
    with open(os.path.join(a.out, "fpga_resources.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _plot(rows, os.path.join(a.out, "fpga_resources.png"))
    for r in rows:
        print(f"{r['config']:>10} {r['engine']:>6} on {r['board']:<8} LUT {r['LUT']:>8g} "
              f"({r['LUT_pct']}%)  FF {r['FF']:>7g} ({r['FF_pct']}%)  DSP {r['DSP']:>5g} "
              f"({r['DSP_pct']}%)  BRAM36 {r['BRAM36']:>5g} ({r['BRAM36_pct']}%)")


def _plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = ("LUT", "FF", "DSP", "BRAM36")
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows)), 4))
    w = 0.8 / len(keys)
    for i, k in enumerate(keys):
        ax.bar([j + i * w for j in range(len(rows))], [r[f"{k}_pct"] or 0 for r in rows], w,
               label=k)
    ax.axhline(100, color="k", lw=0.8, ls="--")
    ax.set_xticks([j + 1.5 * w for j in range(len(rows))])
    ax.set_xticklabels([f"{r['engine']}\n{r['board']}" for r in rows])
    ax.set_ylabel("% of the device (yosys synth_xilinx estimate)")
    ax.set_title("dsf_engine resources vs board capacity")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
