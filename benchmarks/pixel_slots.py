"""Pixel slots (architecture §3, issue 10): ResNet-50 on Kraken with the pixel stream of a
baseline revision (one column per slot) and of this tree (PK columns per slot), in one run.

Per side: DRAM MB per frame by stream, engine-only fps, and whole-system fps of the SoC model
(transaction-level DRAM, no CPU) at DRAM bandwidths from 1.6 to 19.2 GB/s, plus the two preset
SoCs with the `a53` CPU. The engine cycles must be equal on both sides where the streams keep
up (the format changes what the DMA moves, not what the engine computes). Each side is its own
process on its own package (the baseline from a temporary git worktree). Writes
benchmarks/results/pixel_slots.json and pixel_slots.png.

    .venv/bin/python benchmarks/pixel_slots.py [--baseline-rev 99a9c20]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BANDWIDTHS = (1.6, 3.2, 4.8, 6.4, 9.6, 12.8, 19.2)

# one side: its own package only (the editable install's import hook would serve this
# checkout's modules to the old revision); prints one JSON line
_SIDE = r"""
import json, os, sys
sys.meta_path[:] = [f for f in sys.meta_path
                    if 'Editable' not in getattr(f, '__name__', type(f).__name__)]
sys.path.insert(0, sys.argv[1])
os.environ["TF_USE_LEGACY_KERAS"] = "1"
from dsf_sim.api.networks import build
from dsf_sim.compiler.hardware import Hardware
from dsf_sim.models.soc_model import SocConfig, run_soc
from dsf_sim.perf import bench as B
hw = Hardware.from_json(os.path.join(sys.argv[1], "configs", "kraken.json"))
layers = B.simulate(B.layer_list(build("resnet50", hw, bits=4), hw), hw)
tot = B.totals(layers, hw)
mb = {k: sum(getattr(lp, k + "_bytes") for lp in layers) / 1e6
      for k in ("pixel", "weight", "output", "skip")}
by_bw = {}
for bw in json.loads(sys.argv[2]):
    r = run_soc(layers, hw, SocConfig.preset("lpddr4-3200", bw_gbs=bw), record_timeline=False)
    by_bw[str(bw)] = r.fps
presets = {}
for dram in ("ddr4-2400", "lpddr4-3200"):
    r = run_soc(layers, hw, SocConfig.preset(dram, cpu="a53"), record_timeline=False)
    presets[dram + " + a53"] = r.fps
print(json.dumps(dict(mb=mb, engine_fps=tot["fps"], cycles=tot["cycles"], fps_by_bw=by_bw,
                      presets=presets, package=os.path.dirname(B.__file__))))
"""


def side(root: str) -> dict:
    r = subprocess.run([sys.executable, "-c", _SIDE, root, json.dumps(BANDWIDTHS)], cwd=root,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"pixel_slots: the side in {root} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def plot(res: dict, path: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for k, label in (("baseline", f"one column per slot ({res['baseline_rev']})"),
                     ("now", "PK columns per slot (this tree)")):
        ys = [res[k]["fps_by_bw"][str(bw)] for bw in BANDWIDTHS]
        ax.plot(BANDWIDTHS, ys, marker="o", label=f"{label}: pixels {res[k]['mb']['pixel']:.1f} "
                                                  f"MB/frame")
    ax.axhline(res["now"]["engine_fps"], color="grey", ls="--", lw=1, label="engine-only")
    ax.set_xlabel("DRAM bandwidth (GB/s), no CPU")
    ax.set_ylabel("ResNet-50 fps (Kraken 7x96, 4-bit)")
    ax.set_title("Pixel slots: whole-system fps against DRAM bandwidth")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-rev", default="99a9c20")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args(argv)
    from tqdm import tqdm
    wt = tempfile.mkdtemp(prefix="dsf_rev_")
    r = subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", wt, a.baseline_rev],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"pixel_slots: --baseline-rev = {a.baseline_rev!r} is invalid: "
                         f"{r.stderr.strip()}")
    try:
        res = {"baseline_rev": a.baseline_rev, "bandwidths_gbs": list(BANDWIDTHS)}
        for k, root in tqdm((("baseline", wt), ("now", ROOT)), desc="sides", unit="side"):
            res[k] = side(root)
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", wt],
                       capture_output=True)
    if res["baseline"]["cycles"] != res["now"]["cycles"]:
        print(f"note: engine cycles differ: {res['baseline']['cycles']} -> {res['now']['cycles']}")
    os.makedirs(a.out, exist_ok=True)
    tmp = os.path.join(a.out, "pixel_slots.json.tmp")
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, os.path.join(a.out, "pixel_slots.json"))
    plot(res, os.path.join(a.out, "pixel_slots.png"))
    for bw in BANDWIDTHS:
        print(f"{bw:5.1f} GB/s: {res['baseline']['fps_by_bw'][str(bw)]:6.1f} -> "
              f"{res['now']['fps_by_bw'][str(bw)]:6.1f} fps")
    for k in res["now"]["presets"]:
        print(f"{k}: {res['baseline']['presets'][k]:.1f} -> {res['now']['presets'][k]:.1f} fps")
    print(f"pixels {res['baseline']['mb']['pixel']:.1f} -> {res['now']['mb']['pixel']:.1f} MB/frame")


if __name__ == "__main__":
    main()
