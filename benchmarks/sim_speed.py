"""Simulator speed: the numba twin (cycle-accurate and timing-only) vs the Verilator RTL.

Workload: a synthetic conv model, 3 conv bundles 3x3, 32 filters, on a 32x32x32 input, exported
for an 8x24 engine with AXI 128 (tests/zoo.small_hw). Measured in the same run:
  * system model   dsf_sim.models.system_model.run_system_model (firmware + DMA + engine), full
                   and timing_only;
  * engine model   dsf_sim.models.engine.run_engine_jobs_model on the same job streams;
  * Verilator      dsf_sim.rtl_bridge.engine_tb.run_engine_jobs (per-job harness, all jobs streamed
                   back to back) on the same job streams, and the Verilator system testbench
                   (dsf_sim.rtl_bridge.system_tb.run_system_tb) if it exists.
Build / JIT time is excluded (one warm-up run each). Writes benchmarks/results/sim_speed.json.
`--baseline-rev REV` also runs this benchmark of git revision REV (a temporary worktree) in the
same run, alternating with the working tree, and reports each simulator's speed as a ratio
now / REV (sim_speed_vs_<rev>.json).

    .venv/bin/python benchmarks/sim_speed.py [--seed 1] [--prob 1.0] [--repeat 1]
    .venv/bin/python benchmarks/sim_speed.py --repeat 3 --baseline-rev 2513e6a --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_model(hw, size=32, ch=32, n_bundles=3):
    from dsf_sim import Bundle, QInput, QModel
    from zoo import _conv, q, randomize
    Q = q(hw)
    x = x_in = QInput((size, size, ch), batch_size=1, hw=hw, name="in_speed")
    for _ in range(n_bundles):
        x = Bundle(core=_conv(ch, (3, 3), act=Q["relu"], hw=hw))(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x))


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu or platform.processor(),
            "python": platform.python_version()}


def timed(fn, repeat):
    best, out = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best = dt if best is None or dt < best else best
    return out, best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prob", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "sim_speed.json"))
    ap.add_argument("--no-verilator", action="store_true")
    ap.add_argument("--baseline-rev", help="also measure this git revision, alternating")
    ap.add_argument("--rounds", type=int, default=3, help="alternations with --baseline-rev")
    a = ap.parse_args(argv)
    if a.baseline_rev:
        return compare_revisions(a)

    from zoo import small_hw
    from dsf_sim.models.engine import run_engine_jobs_model
    from dsf_sim.models.system_model import run_system_model

    hw = small_hw(rows=8, cols=24, axi=128)
    d = tempfile.mkdtemp(prefix="dsf_speed_")
    m = build_model(hw, size=a.size)
    m.export_inference(x=m.random_input, hw=hw, out_dir=d)
    s, p = a.seed, a.prob

    res = {"workload": f"3x conv3x3 {a.size}x{a.size}x32 -> 32, 8x24 PEs, AXI 128",
           "seed": s, "valid_prob": p, "ready_prob": p, "machine": machine(), "runs": {}}

    # warm-up (firmware build, numba cache)
    run_system_model(d, s, p, p, timing_only=True)
    full, t_full = timed(lambda: run_system_model(d, s, p, p, check=True),
                         a.repeat)
    tonly, t_tonly = timed(lambda: run_system_model(d, s, p, p, timing_only=True), a.repeat)
    assert tonly["cycles_total"] == full["cycles_total"]
    cyc, macs = full["cycles_total"], full["macs"]
    res["cycles_total"] = cyc
    res["macs"] = macs
    res["pe_utilisation"] = full["pe_utilisation"]

    def rec(name, wall, cycles):
        res["runs"][name] = {"wall_s": wall, "cycles": cycles, "cycles_per_s": cycles / wall,
                             "macs_per_s": macs * (cycles / cyc) / wall}

    rec("system_model", t_full, cyc)
    rec("system_model_timing_only", t_tonly, cyc)

    # the same job streams (weights from weights.bin, pixels = the packed inputs the firmware made)
    run = full["firmware_run"]
    wts = np.fromfile(os.path.join(d, "weights.bin"), dtype=np.uint8)
    B = hw.AXI_BYTES
    jobs = []
    for c in full["commands"]:
        if c.get("ch") == 1:
            w = wts[c["addr"]:c["addr"] + c["bytes"]].reshape(-1, B)
            x = np.frombuffer(run.packed_inputs[c["bundle"]][c["p"]], np.uint8).reshape(-1, B)
            jobs.append((w, x))
    (_, ecyc), t_eng = timed(lambda: run_engine_jobs_model(hw, jobs, s, p, p), a.repeat)
    rec("engine_model_jobs", t_eng, sum(ecyc))
    (_, ecyc_t), t_eng_t = timed(lambda: run_engine_jobs_model(hw, jobs, s, p, p,
                                                                timing_only=True), a.repeat)
    rec("engine_model_jobs_timing_only", t_eng_t, sum(ecyc_t))

    if not a.no_verilator:
        import shutil
        if shutil.which("verilator"):
            from dsf_sim.rtl_bridge.engine_tb import run_engine_jobs
            run_engine_jobs(hw, jobs[:1], s, p, p)          # build (cached)
            (_, vcyc), t_v = timed(lambda: run_engine_jobs(hw, jobs, s, p, p), a.repeat)
            assert list(vcyc) == list(ecyc), "Verilator and model cycles differ"
            rec("verilator_engine_jobs", t_v, sum(vcyc))
            try:
                from dsf_sim.rtl_bridge.system_tb import run_system_tb
            except ImportError:
                run_system_tb = None
            if run_system_tb is not None:
                try:
                    run_system_tb(d, s, p, p)                 # build (cached)
                    sv, t_sv = timed(lambda: run_system_tb(d, s, p, p), a.repeat)
                    rec("verilator_system_tb", t_sv, sv["cycles_total"])
                    res["system_tb_cycles_equal"] = sv["cycles_total"] == cyc
                except Exception as e:  # noqa: BLE001 - report, do not fail the benchmark
                    res["system_tb_error"] = f"{type(e).__name__}: {e}"

    r = res["runs"]
    res["ratios"] = {}
    for k in r:
        for base in ("verilator_engine_jobs", "verilator_system_tb"):
            if base in r and k != base and not k.startswith("verilator"):
                res["ratios"][f"{k} / {base}"] = r[k]["cycles_per_s"] / r[base]["cycles_per_s"]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"workload: {res['workload']}; cycles {cyc}, MACs {macs}, PE util "
          f"{res['pe_utilisation']:.3f}; machine {res['machine']}")
    for k, v in r.items():
        print(f"  {k:32s} {v['wall_s']:8.3f} s  {v['cycles_per_s']:12.0f} cycles/s  "
              f"{v['macs_per_s']:14.0f} MAC/s")
    for k, v in res["ratios"].items():
        print(f"  ratio {k}: {v:.2f}x")
    print(f"-> {a.out}")
    return res


# run a revision's script on that revision's package only: the editable install's import hook
# (which serves this checkout's dsf_sim for any module the revision lacks) is removed first
_BOOT = ("import runpy, sys; sys.meta_path[:] = [f for f in sys.meta_path if 'Editable' not in "
         "getattr(f, '__name__', type(f).__name__)]; sys.path.insert(0, {root!r}); "
         "sys.argv = [{script!r}] + sys.argv[1:]; runpy.run_path({script!r}, run_name='__main__')")


def compare_revisions(a):
    """Run this benchmark of `a.baseline_rev` and of the working tree alternately (same machine,
    same minutes) and report now/then per simulator, best of all rounds."""
    import subprocess
    wt = tempfile.mkdtemp(prefix="dsf_rev_")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", wt, a.baseline_rev],
                   check=True, capture_output=True)
    try:
        best = {"then": {}, "now": {}}
        for r in range(a.rounds):
            for side, root in (("then", wt), ("now", ROOT)):
                out = os.path.join(wt if side == "then" else tempfile.mkdtemp(), f"{side}.json")
                script = os.path.join(root, "benchmarks", "sim_speed.py")
                cmd = [sys.executable, "-c", _BOOT.format(root=root, script=script),
                       "--repeat", str(a.repeat), "--seed", str(a.seed), "--prob", str(a.prob),
                       "--size", str(a.size), "--out", out] + (["--no-verilator"]
                                                                if a.no_verilator else [])
                subprocess.run(cmd, check=True, capture_output=True, cwd=root)
                with open(out) as f:
                    runs = json.load(f)["runs"]
                for k, v in runs.items():
                    best[side][k] = max(best[side].get(k, 0.0), v["cycles_per_s"])
        res = {"baseline_rev": a.baseline_rev, "rounds": a.rounds, "repeat": a.repeat,
               "machine": machine(), "cycles_per_s": best,
               "now_over_then": {k: best["now"][k] / best["then"][k]
                                 for k in best["now"] if k in best["then"]}}
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", wt],
                       capture_output=True)
    out = os.path.join(HERE, "results", f"sim_speed_vs_{a.baseline_rev}.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    for k, v in res["now_over_then"].items():
        print(f"  {k:32s} then {best['then'][k]:12.0f}  now {best['now'][k]:12.0f} cycles/s  "
              f"now/then {v:.3f}")
    print(f"-> {out}")
    return res


if __name__ == "__main__":
    main()
