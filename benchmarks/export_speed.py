"""Export time and peak memory of the full ResNet-50 (kraken config), this tree vs a baseline
revision, in one run; the exported files must be byte-identical.

Each measurement is its own process (peak RSS = that process's maximum, TensorFlow included);
best of `--repeat` exports, and the first one (what a user's single export costs: TensorFlow
warm-up and fresh memory pages included).
The baseline is checked out into a temporary git worktree. Writes
benchmarks/results/export_speed.json.

    .venv/bin/python benchmarks/export_speed.py [--baseline-rev dfe0b6c] [--repeat 3] [--batches 1,7]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from tqdm import tqdm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

ONE = r"""
import hashlib, json, os, resource, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import dsf_sim
from dsf_sim import Hardware
from dsf_sim.api import networks
batch, repeat = int(sys.argv[2]), int(sys.argv[3])
_qinput = dsf_sim.QInput           # the batch through QInput: older trees' networks have no batch
def _batched(*a, **k):
    k["batch_size"] = batch
    return _qinput(*a, **k)
dsf_sim.QInput = _batched
d = Hardware.from_json(os.path.join(sys.argv[1], "configs", "kraken.json")).to_dict()
d["max_batch_size"] = max(batch, 1)
hw = Hardware.from_dict(d)
model = networks.resnet50(hw, bits=4, input_size=224)
x = model.random_input
best = first = None
for _ in range(repeat):
    out = tempfile.mkdtemp(prefix="dsf_exp_")
    t = time.time()
    model.export_inference(x=x, hw=hw, out_dir=out, check=False)
    dt = time.time() - t
    best = dt if best is None else min(best, dt)
    first = dt if first is None else first
h = hashlib.sha256()
for root, _, files in sorted(os.walk(out)):
    for f in sorted(files):
        if f != "manifest.json":
            h.update(os.path.relpath(os.path.join(root, f), out).encode())
            h.update(open(os.path.join(root, f), "rb").read())
print(json.dumps({"seconds": round(best, 2), "first_seconds": round(first, 2), "peak_rss_gb":
                  round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
                  "digest": h.hexdigest()}))
"""


def measure(tree, batch, repeat):
    py = os.path.join(ROOT, ".venv", "bin", "python")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([py, "-c", ONE, tree, str(batch), str(repeat)], capture_output=True,
                       text=True, env=env, cwd=tempfile.gettempdir())
    if r.returncode != 0:
        raise RuntimeError(f"export in {tree} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-rev", default="dfe0b6c")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batches", default="1,7")
    a = ap.parse_args(argv)
    wt = tempfile.mkdtemp(prefix="dsf_base_")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", wt, a.baseline_rev],
                   check=True, capture_output=True)
    rows = []
    try:
        plan = [(b, name, tree) for b in map(int, a.batches.split(","))
                for name, tree in (("baseline", wt), ("now", ROOT))]
        res = {}
        for b, name, tree in tqdm(plan, desc="export runs"):
            res[(b, name)] = measure(tree, b, a.repeat if b == 1 else 1)
        for b in sorted({p[0] for p in plan}):
            base, now = res[(b, "baseline")], res[(b, "now")]
            rows.append(dict(network="resnet50", batch=b, baseline_rev=a.baseline_rev,
                             baseline_s=base["seconds"], now_s=now["seconds"],
                             speedup=round(base["seconds"] / now["seconds"], 2),
                             baseline_first_s=base["first_seconds"],
                             now_first_s=now["first_seconds"],
                             baseline_peak_rss_gb=base["peak_rss_gb"],
                             now_peak_rss_gb=now["peak_rss_gb"],
                             identical_files=base["digest"] == now["digest"]))
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", wt],
                       capture_output=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "export_speed.json"), "w") as f:
        json.dump(rows, f, indent=1)
    for r in rows:
        print(f"resnet50 batch {r['batch']}: {r['baseline_s']} s -> {r['now_s']} s "
              f"({r['speedup']}x; first export in the process {r['baseline_first_s']} s -> "
              f"{r['now_first_s']} s), peak RSS {r['baseline_peak_rss_gb']} -> "
              f"{r['now_peak_rss_gb']} GB, identical files: {r['identical_files']}")
    if not all(r["identical_files"] for r in rows):
        sys.exit("exported files differ from the baseline")


if __name__ == "__main__":
    main()
