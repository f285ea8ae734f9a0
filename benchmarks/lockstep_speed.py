"""Lockstep co-simulation speed (dsf_sim/rtl_bridge/lockstep.py): fast path vs pyverilator path.

Workload: tests/zoo.py "kernels", "strides", "pools", "residual" models (batch 2) exported for
small_hw(bits=4) (4x8 engine, AXI 64), all jobs back to back `--copies` times (default 10),
valid/ready probability 0.5, seed 1.
Measured (build / JIT excluded, one warm-up each):
  * fast path, RTL   tb_lockstep (Verilator C++, debug wrapper, -O3) writing the per-cycle trace
                     file + mapping it into numpy record views;
  * fast path, model the twin's cycle loop writing each cycle's row as it runs (trace_rows.py);
  * fast path, compare  first divergence: one numba pass over both traces, stopping at the first
                     difference;
  * lockstep         `lockstep()` end to end: the RTL process and the twin's trace run at the
                     same time (two cores), then the compare; the sum of the three parts above
                     is the sequential baseline of the same run;
  * reference        plain tb_engine (no trace) and the engine model without tracing;
  * pyverilator      the same harness in Python, one pyverilator call per signal per cycle (the slow
                     path that dumps the VCD window), timed over the first --pyv-cycles cycles.
  * --baseline-rev REV  `lockstep()` of git revision REV (a temporary worktree, its own build
                     folder) against the working tree on the same jobs, one long-lived process
                     per side, alternating `--rounds` times: the before/after of one run
                     (wall seconds, and each side's peak resident memory during its lockstep()
                     calls, sampled every 2 ms: TensorFlow-free processes holding the jobs,
                     the traces and numba).
Writes benchmarks/results/lockstep_speed.json.

    .venv/bin/python benchmarks/lockstep_speed.py [--pyv-cycles 3000] [--baseline-rev REV]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))


NAMES = ("kernels", "strides", "pools", "residual")

# one side of --baseline-rev: its own package only (the editable install's import hook would serve
# this checkout's modules to the old revision), then one lockstep() per line on stdin
_SIDE = r"""
import json, pickle, sys, threading, time
sys.meta_path[:] = [f for f in sys.meta_path
                    if 'Editable' not in getattr(f, '__name__', type(f).__name__)]
sys.path.insert(0, sys.argv[1])
from dsf_sim.rtl_bridge import lockstep as LS
hw, jobs, s, p = pickle.load(open(sys.argv[2], 'rb'))
LS.lockstep(hw, jobs, s, p, p)

def rss_mb():      # resident now (ru_maxrss would include the parent's peak: kept across exec)
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 2**20

for line in sys.stdin:
    peak, stop = [rss_mb()], threading.Event()
    def sample():
        while not stop.wait(0.002):
            peak[0] = max(peak[0], rss_mb())
    th = threading.Thread(target=sample)
    th.start()
    t = time.perf_counter()
    r = LS.lockstep(hw, jobs, s, p, p)
    wall = time.perf_counter() - t
    stop.set()
    th.join()
    print(json.dumps(dict(wall=wall, cycles=r.cycles, passed=r.passed, peak_rss_mb=peak[0])),
          flush=True)
"""


def versus_rev(rev, rounds, hw, jobs, seed, prob, tmp):
    """lockstep() of REV and of the working tree on the same jobs, alternating; both must pass
    with the same cycles. {then: [s], now: [s], cycles}."""
    from tqdm import tqdm
    jp = os.path.join(tmp, "jobs.pkl")
    with open(jp, "wb") as f:
        pickle.dump((hw, jobs, seed, prob), f)
    wt = tempfile.mkdtemp(prefix="dsf_rev_")
    r = subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", wt, rev],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"lockstep_speed: --baseline-rev = {rev!r} is invalid: "
                         f"{r.stderr.strip()}")
    procs, runs = {}, {"then": [], "now": []}
    try:
        for k, root in (("then", wt), ("now", ROOT)):
            procs[k] = subprocess.Popen([sys.executable, "-c", _SIDE, root, jp],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, cwd=root)
        for _ in tqdm(range(rounds), desc=f"lockstep {rev} vs now", unit="round"):
            for k, pr in procs.items():
                pr.stdin.write("run\n")
                pr.stdin.flush()
                line = pr.stdout.readline()
                if not line:
                    raise SystemExit(f"lockstep_speed: the {k} side stopped (build or import "
                                     f"failed in {wt if k == 'then' else ROOT})")
                x = json.loads(line)
                if not x["passed"]:
                    raise SystemExit(f"lockstep_speed: the {k} side's lockstep failed")
                runs[k].append(x)
    finally:
        for pr in procs.values():
            pr.kill()
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", wt],
                       capture_output=True)
        shutil.rmtree(wt, ignore_errors=True)
    cyc = {x["cycles"] for rs in runs.values() for x in rs}
    if len(cyc) != 1:
        raise SystemExit(f"lockstep_speed: the sides compared different cycle counts {cyc}")
    return ({k: [x["wall"] for x in rs] for k, rs in runs.items()} | {"cycles": cyc.pop()}
            | {f"{k}_peak_rss_mb": max(x["peak_rss_mb"] for x in rs) for k, rs in runs.items()})


def timed(fn, repeat=2):
    best, out = 1e30, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyv-cycles", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prob", type=float, default=0.5)
    ap.add_argument("--baseline-rev", default=None,
                    help="also run lockstep() of this git revision, alternating with the working "
                         "tree (before/after in one run)")
    ap.add_argument("--rounds", type=int, default=5, help="alternations for --baseline-rev")
    ap.add_argument("--copies", type=int, default=10,
                    help="the job list back to back this many times (a longer run: rates, not "
                         "process start-up)")
    args = ap.parse_args()
    from zoo import ZOO, small_hw

    from dsf_sim.models.engine import run_engine_jobs_model_full
    from dsf_sim.rtl_bridge import lockstep as LS
    from dsf_sim.rtl_bridge.engine_tb import run_engine_jobs_full

    tmp = tempfile.mkdtemp(prefix="dsf_lsbench_")
    hw = small_hw(bits=4, data_dir=tmp)
    jobs = []
    for name in NAMES:
        model = ZOO[name](hw, xn=2)
        ex = model.export_inference(x=model.random_input, hw=hw, out_dir=os.path.join(tmp, name))
        jobs += LS.export_jobs(ex)
    jobs = jobs * args.copies
    s, p = args.seed, args.prob

    LS.rtl_trace(hw, jobs, s, p, p)                         # build + warm-up
    LS.model_trace(hw, jobs, s, p, p)                       # JIT + warm-up
    t_rtl, rtl = timed(lambda: LS.rtl_trace(hw, jobs, s, p, p))
    t_mod, mod = timed(lambda: LS.model_trace(hw, jobs, s, p, p))
    t_cmp, div = timed(lambda: LS.first_divergence(mod, rtl))
    assert div is None, div
    t_ls, lres = timed(lambda: LS.lockstep(hw, jobs, s, p, p), 3)   # RTL and twin concurrent
    assert lres.passed and lres.cycles == len(rtl), lres.report
    T = len(rtl)
    run_engine_jobs_full(hw, jobs, s, p, p)
    t_tb, _ = timed(lambda: run_engine_jobs_full(hw, jobs, s, p, p))
    run_engine_jobs_model_full(hw, jobs, s, p, p)
    t_em, _ = timed(lambda: run_engine_jobs_model_full(hw, jobs, s, p, p))

    pv = LS.PyvRTL(hw, jobs, s, p, p)                       # build (cached) + reset
    n = min(args.pyv_cycles, T)
    t0 = time.perf_counter()
    for _ in range(n):
        pv.step()
    t_pyv = time.perf_counter() - t0
    pv2 = LS.PyvRTL(hw, jobs, s, p, p)
    pv2.sim.start_vcd_trace(os.path.join(tmp, "bench.vcd"), auto_tracing=False)
    nv = min(500, T)
    t0 = time.perf_counter()
    for _ in range(nv):
        pv2.step(vcd=True)
    t_pyv_vcd = time.perf_counter() - t0
    pv2.sim.stop_vcd_trace()

    fast = t_rtl + t_mod + t_cmp            # the sequential baseline, same run
    res = {
        "workload": f"zoo {'+'.join(NAMES)} (batch 2) x {args.copies} back to back, "
                    f"small_hw(bits=4) 4x8 AXI64, {len(jobs)} jobs, prob {p}, seed {s}",
        "cycles": T, "jobs": len(jobs),
        "fast_path": {"rtl_trace_s": t_rtl, "model_trace_s": t_mod, "compare_s": t_cmp,
                      "sequential_total_s": fast, "sequential_cycles_per_s": T / fast,
                      "lockstep_s": t_ls, "cycles_per_s": T / t_ls,
                      "concurrent_over_sequential": fast / t_ls,
                      "rtl_cycles_per_s": T / t_rtl, "model_cycles_per_s": T / t_mod},
        "reference_no_trace": {"tb_engine_cycles_per_s": T / t_tb,
                               "engine_model_cycles_per_s": T / t_em},
        "pyverilator": {"cycles_timed": n, "cycles_per_s": n / t_pyv,
                        "with_vcd_cycles_timed": nv, "with_vcd_cycles_per_s": nv / t_pyv_vcd},
        "speedup_fast_vs_pyverilator_rtl_only": (T / t_ls) / (n / t_pyv),
        "machine": platform.processor() or platform.machine(), "python": platform.python_version(),
    }
    if args.baseline_rev:
        vs = versus_rev(args.baseline_rev, args.rounds, hw, jobs, s, p, tmp)
        then, now = min(vs["then"]), min(vs["now"])
        res["versus_rev"] = {"rev": args.baseline_rev, "rounds": args.rounds,
                             "then_s": vs["then"], "now_s": vs["now"],
                             "then_cycles_per_s": T / then, "now_cycles_per_s": T / now,
                             "then_over_now_best": then / now,
                             "then_peak_rss_mb": vs["then_peak_rss_mb"],
                             "now_peak_rss_mb": vs["now_peak_rss_mb"]}
    out = os.path.join(HERE, "results", "lockstep_speed.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(out + ".tmp", out)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
