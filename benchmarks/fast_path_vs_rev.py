"""The twin's fast path on one ResNet-50 frame: the working tree against git revision REV in the
same run.

Why: this VM's speed drifts by 1.5x within minutes, so a speed-up is only a ratio measured in the
same minutes. One ResNet-50 v1.5 frame (224x224, 4-bit, configs/kraken.json) is exported once by
the working tree; one long-lived process per side (REV from a temporary worktree, its own
package only) runs `run_system_model(fast=True)` on that export, the sides alternating one frame
at a time for `--rounds` rounds after a warm-up (numba cache, firmware build). Both sides must
report the same cycles and the same final output (else the benchmark fails). Writes
benchmarks/results/fast_path_vs_<rev>.json: wall seconds per frame (best, median, all), the
ratio then/now, and the fast path's own counters of the working tree (value seconds, clock
waiting, speculated sums kept/dropped).

    .venv/bin/python benchmarks/fast_path_vs_rev.py REV [--rounds 10]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# one side: its package only (the editable install's import hook would serve this checkout's
# modules to the old revision), then frames on request; a line per frame on stdout
_SIDE = r"""
import hashlib, json, sys, time
sys.meta_path[:] = [f for f in sys.meta_path
                    if 'Editable' not in getattr(f, '__name__', type(f).__name__)]
sys.path.insert(0, sys.argv[1])
from dsf_sim.models.system_model import run_system_model
d = sys.argv[2]
run_system_model(d, 1, 1.0, 1.0, fast=True)
for line in sys.stdin:
    t = time.perf_counter()
    r = run_system_model(d, 1, 1.0, 1.0, fast=True)
    wall = time.perf_counter() - t
    out = hashlib.sha256(r["firmware_run"].output.tobytes()).hexdigest()
    keep = {k: r.get(k) for k in ("job_values_s", "job_wait_s", "job_speculated")}
    print(json.dumps(dict(wall=wall, cycles=r["cycles_total"], out=out, **keep)), flush=True)
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="git revision to compare with (e.g. the last stop's commit)")
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args(argv)
    if a.rounds < 1:
        raise SystemExit(f"fast_path_vs_rev: --rounds = {a.rounds} is invalid: allowed >= 1")
    from tqdm import tqdm
    from sim_speed import export_workload, machine
    wt = tempfile.mkdtemp(prefix="dsf_rev_")
    r = subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", wt, a.rev],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"fast_path_vs_rev: rev = {a.rev!r} is invalid: {r.stderr.strip()}")
    d = None
    procs = []
    try:
        _, d, t_export = export_workload("resnet50", 224)
        sides = {"then": wt, "now": ROOT}
        for root in sides.values():
            procs.append(subprocess.Popen(
                [sys.executable, "-c", _SIDE, root, d], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=root))
        runs = {k: [] for k in sides}
        for _ in tqdm(range(a.rounds), desc="fast_path_vs_rev", unit="round"):
            for (k, _root), p in zip(sides.items(), procs):
                p.stdin.write("frame\n")
                p.stdin.flush()
                line = p.stdout.readline()
                if not line:
                    raise SystemExit(f"fast_path_vs_rev: the {k} side ({sides[k]}) stopped")
                runs[k].append(json.loads(line))
        ref = runs["then"][0]
        for k, rs in runs.items():
            for x in rs:
                if (x["cycles"], x["out"]) != (ref["cycles"], ref["out"]):
                    raise SystemExit(f"fast_path_vs_rev: the {k} side gave cycles {x['cycles']} "
                                     f"/ output {x['out'][:12]}, {a.rev} gave {ref['cycles']} / "
                                     f"{ref['out'][:12]}")
    finally:
        for p in procs:
            p.kill()
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", wt],
                       capture_output=True)
        if d:
            shutil.rmtree(d, ignore_errors=True)

    def stats(rs):
        w = sorted(x["wall"] for x in rs)
        return dict(best_s=w[0], median_s=w[len(w) // 2], all_s=[x["wall"] for x in rs])

    res = {"rev": a.rev, "rounds": a.rounds, "machine": machine(), "export_s": t_export,
           "cycles": ref["cycles"], "then": stats(runs["then"]), "now": stats(runs["now"]),
           "now_counters": runs["now"][-1]}
    res["then_over_now_best"] = res["then"]["best_s"] / res["now"]["best_s"]
    res["then_over_now_median"] = res["then"]["median_s"] / res["now"]["median_s"]
    out = os.path.join(HERE, "results", f"fast_path_vs_{a.rev}.json")
    with open(out + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(out + ".tmp", out)
    print(f"ResNet-50 frame, fast path, {a.rounds} alternating rounds: {a.rev} best "
          f"{res['then']['best_s']:.3f} s median {res['then']['median_s']:.3f} s | now best "
          f"{res['now']['best_s']:.3f} s median {res['now']['median_s']:.3f} s | speed-up "
          f"{res['then_over_now_best']:.2f}x (best) {res['then_over_now_median']:.2f}x (median)")
    print(f"-> {out}")
    return res


if __name__ == "__main__":
    main()
