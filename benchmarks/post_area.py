"""yosys cell counts of the engine with and without the output pipeline (issue 10).

"Without" is the engine of git revision REV (default 31caa80, the last revision before the
pipeline: raw sums only), checked out into a temporary worktree; "with" is the working tree.
Both are generated for the same Hardware parameters by their own revision's
`compiler.rtl_config.rtl_sources` and synthesised by the same yosys command
(`synth -top dsf_engine -flatten -noshare`, generic cells), one configuration at a time, and
per module (`synth` without -flatten) to show where the cells are.
Writes benchmarks/results/post_area.json.

    .venv/bin/python benchmarks/post_area.py [--baseline-rev 31caa80]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIGS = {
    "4x8_axi64_4b": dict(processing_elements=(4, 8), bits_input=4, bits_weights=4, bits_sum=20,
                         axi_width=64, max_kernel_size=3, max_image_size=32, ram_weights_depth=12,
                         max_channels_in=64, max_batch_size=4),
    "8x16_axi128_8b": dict(processing_elements=(8, 16), bits_input=8, bits_weights=8,
                           bits_sum=28, axi_width=128, max_kernel_size=3, max_image_size=64,
                           ram_weights_depth=24, max_channels_in=128, max_batch_size=4),
}

GEN = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from dsf_sim.compiler.hardware import Hardware
from dsf_sim.compiler.rtl_config import rtl_sources
hw = Hardware(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(sys.argv[2]).items()})
for name, text in rtl_sources(hw).items():
    open(sys.argv[3] + "/" + name, "w").write(text)
print(json.dumps({k: getattr(hw, k) for k in ("LANES", "PIPE_BITS") if hasattr(hw, k)}))
"""


def synth(root, cfg, work, flatten=True):
    os.makedirs(work, exist_ok=True)
    r = subprocess.run([sys.executable, "-c", GEN, root, json.dumps(cfg), work],
                       capture_output=True, text=True, check=True)
    params = json.loads(r.stdout.strip().splitlines()[-1])
    srcs = [os.path.join(work, "dsf_cfg.sv")] + sorted(glob.glob(os.path.join(root, "rtl", "*.sv")))
    script = (f"read_verilog -sv -I{work} {' '.join(srcs)}; "
              f"synth -top dsf_engine {'-flatten ' if flatten else ''}-noshare; "
              f"tee -q -o stat.txt stat")
    t = time.time()
    subprocess.run(["yosys", "-q", "-p", script], cwd=work, check=True, capture_output=True,
                   timeout=3600)
    secs = time.time() - t
    stat = open(os.path.join(work, "stat.txt")).read()
    if flatten:
        total = int(re.search(r"Number of cells:\s+(\d+)", stat).group(1))
        ff = sum(int(n) for n in re.findall(r"\$_S?DFFE?_\w+_\s+(\d+)", stat))
        return dict(cells=total, flops=ff, yosys_s=round(secs, 1), **params)
    per = {}
    for m in re.finditer(r"=== (\S+) ===(.*?)Number of cells:\s+(\d+)", stat, re.S):
        name = re.sub(r"^\$paramod\$\w+\\", "", m.group(1))
        per[name] = per.get(name, 0) + int(m.group(3))
    return dict(per_module=per, yosys_s=round(secs, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-rev", default="31caa80")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "post_area.json"))
    args = ap.parse_args()
    from tqdm import tqdm
    res = dict(baseline_rev=args.baseline_rev, yosys=subprocess.run(
        ["yosys", "-V"], capture_output=True, text=True).stdout.strip(), configs={})
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", base,
                        args.baseline_rev], check=True, capture_output=True)
        try:
            jobs = [(c, side, flat) for c in CONFIGS for side in ("without", "with")
                    for flat in (True, False)]
            for c, side, flat in tqdm(jobs, desc="yosys"):
                root = base if side == "without" else ROOT
                r = synth(root, CONFIGS[c], os.path.join(tmp, f"{c}_{side}_{int(flat)}"), flat)
                res["configs"].setdefault(c, {"hardware": CONFIGS[c]}).setdefault(side, {}).update(r)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base],
                           capture_output=True)
    for c, d in res["configs"].items():
        d["cells_ratio_with_over_without"] = round(d["with"]["cells"] / d["without"]["cells"], 3)
        print(f"{c}: without pipeline {d['without']['cells']} cells ({d['without']['flops']} "
              f"flops), with {d['with']['cells']} ({d['with']['flops']} flops, "
              f"{d['with'].get('LANES')} lanes): x{d['cells_ratio_with_over_without']}")
        print(f"   per module with: {d['with']['per_module']}")
    tmp_out = args.out + ".tmp"
    with open(tmp_out, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp_out, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
