"""Simulator speed: the twin's fast path, per-cycle and timing-only modes vs the Verilator RTL.

Workloads (`--workload`, default both):
  * resnet50  the full 224x224 ResNet-50 v1.5 frame, 4-bit, configs/kraken.json (7x96), exported
              here (export time recorded);
  * small     3 conv bundles 3x3, 32 filters, on a 32x32x32 input, 8x24 engine, AXI 128.
Measured in the same run, on the same export, best of `--repeat`:
  * twin_fast        run_system_model(fast=True): job values at once, the clock timing-only
                     (architecture §20), every level then checked bit-exact (outside the timing);
  * twin_cycle       run_system_model(): every value cycle by cycle, checked bit-exact;
  * twin_timing_only run_system_model(timing_only=True): cycles only;
  * verilator_system_tb  the SystemVerilog system testbench (RTL engine, SV DMAs, the firmware by
                     DPI-C), build cached and excluded; `--verilator-repeat` runs (1 by default on
                     ResNet-50: a run takes minutes); its Verilator model is compiled with
                     Verilator's default (-Os); `--system-tb-opt O3` also runs it compiled
                     at that level (verilator_system_tb_opt), ratios against both;
  * small only: the engine twin and the Verilator engine harness on the same job streams.
Every mode must give the same cycles as twin_cycle (else the benchmark fails). Writes
benchmarks/results/sim_speed.json (wall s, cycles/s, MAC/s, ratios to Verilator).
`--baseline-rev REV` also runs this benchmark of git revision REV (a temporary worktree) in the
same run, alternating with the working tree, on the small workload, and reports each simulator's
speed as a ratio now / REV (sim_speed_vs_<rev>.json).

    .venv/bin/python benchmarks/sim_speed.py [--workload resnet50,small] [--repeat 3]
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


def export_workload(name, size):
    """(hw, export folder, export seconds) of a workload."""
    d = tempfile.mkdtemp(prefix=f"dsf_speed_{name}_")
    if name == "small":
        from zoo import small_hw
        hw = small_hw(rows=8, cols=24, axi=128)
        m = build_model(hw, size=size)
        t = time.perf_counter()
        m.export_inference(x=m.random_input, hw=hw, out_dir=d)
        return hw, d, time.perf_counter() - t
    from dsf_sim import Hardware
    from dsf_sim.api.networks import build
    hw = Hardware.from_json(os.path.join(ROOT, "configs", "kraken.json"))
    dd = hw.to_dict()
    dd.update(bits_input=4, bits_weights=4)
    hw = Hardware.from_dict(dd)
    m = build("resnet50", hw, bits=4, input_size=224)
    t = time.perf_counter()
    m.export_inference(x=m.random_input, hw=hw, out_dir=d, check=False)
    return hw, d, time.perf_counter() - t


def measure(name, a, bar):
    """One workload: every simulator on the same export; their records and the export time."""
    from dsf_sim.compiler.export import load_export
    from dsf_sim.models.system_model import run_system_model
    from dsf_sim.runtime.check import compare_run

    hw, d, t_export = export_workload(name, a.size)
    _, manifest = load_export(d)
    s, p = a.seed, a.prob
    out = {"export_s": t_export, "runs": {}}
    modes = {"twin_fast": dict(fast=True), "twin_cycle": {}, "twin_timing_only":
             dict(timing_only=True),
             # the same clock stepping every cycle (no stretch jumps, architecture §14.5)
             "twin_fast_stepped": dict(fast=True, stretch=False),
             "twin_timing_only_stepped": dict(timing_only=True, stretch=False)}
    for kw in modes.values():                     # warm-up: firmware build, numba cache
        run_system_model(d, s, p, p, **kw)
    best = {}
    for _ in range(a.repeat):                     # alternate the modes: same minutes for each
        for m, kw in modes.items():
            bar.set_postfix_str(f"{name}: {m}")
            t = time.perf_counter()
            r = run_system_model(d, s, p, p, **kw)
            wall = time.perf_counter() - t
            if m not in best or wall < best[m][0]:
                best[m] = (wall, r)
            bar.update(1)
    ref = best["twin_cycle"][1]
    cyc, macs = ref["cycles_total"], ref["macs"]
    for m in ("twin_fast", "twin_cycle"):         # bit-exact at every level, outside the timing
        compare_run(best[m][1]["firmware_run"], hw, manifest)
    for m, (wall, r) in best.items():
        if r["cycles_total"] != cyc or r["cycles_per_bundle"] != ref["cycles_per_bundle"]:
            raise SystemExit(f"{name}: {m} cycles {r['cycles_total']} != twin_cycle {cyc}")
    if best["twin_fast"][1]["events"] != ref["events"]:
        raise SystemExit(f"{name}: twin_fast DMA events differ from twin_cycle")
    for m in ("twin_fast", "twin_timing_only"):   # jumps change nothing but the speed
        st = best[m + "_stepped"][1]
        if any(best[m][1][k] != st[k] for k in ("events", "channels", "commands")):
            raise SystemExit(f"{name}: {m} with stretch jumps differs from stepping every cycle")
    out.update(jumped_cycles=best["twin_timing_only"][1]["jumped_cycles"])
    out.update(cycles_total=cyc, macs=macs, pe_utilisation=ref["pe_utilisation"],
               fast_job_values_worker_s=best["twin_fast"][1]["job_values_s"],
               fast_job_values_wait_s=best["twin_fast"][1]["job_wait_s"])

    def rec(m, wall, cycles):
        out["runs"][m] = {"wall_s": wall, "cycles": cycles, "cycles_per_s": cycles / wall,
                          "macs_per_s": macs * (cycles / cyc) / wall}

    for m, (wall, r) in best.items():
        rec(m, wall, r["cycles_total"])

    if name == "small":   # the engine alone on the same job streams
        from dsf_sim.models.engine import run_engine_jobs_model
        run = ref["firmware_run"]
        wts = np.fromfile(os.path.join(d, "weights.bin"), dtype=np.uint8)
        B = hw.AXI_BYTES
        jobs = []
        for c in ref["commands"]:
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
            from dsf_sim.rtl_bridge.engine_tb import run_engine_jobs
            run_engine_jobs(hw, jobs[:1], s, p, p)          # build (cached)
            (_, vcyc), t_v = timed(lambda: run_engine_jobs(hw, jobs, s, p, p), a.repeat)
            if list(vcyc) != list(ecyc):
                raise SystemExit("small: Verilator and twin engine cycles differ")
            rec("verilator_engine_jobs", t_v, sum(vcyc))
    if not a.no_verilator:
        from dsf_sim.rtl_bridge.system_tb import build_system_tb, run_system_tb
        bar.set_postfix_str(f"{name}: verilator_system_tb (build)")
        build_system_tb(d)                                            # build only (cached)
        n = a.verilator_repeat or (1 if name == "resnet50" else a.repeat)
        bar.set_postfix_str(f"{name}: verilator_system_tb x{n}")
        sv, t_sv = timed(lambda: run_system_tb(d, s, p, p), n)
        if sv["cycles_total"] != cyc or sv["cycles_per_bundle"] != ref["cycles_per_bundle"]:
            raise SystemExit(f"{name}: Verilator system TB cycles {sv['cycles_total']} != "
                             f"twin {cyc}")
        rec("verilator_system_tb", t_sv, sv["cycles_total"])
        out["verilator_system_tb_runs"] = n
        if a.system_tb_opt:          # the same testbench, its model compiled at another level
            bar.set_postfix_str(f"{name}: verilator_system_tb {a.system_tb_opt} (build)")
            build_system_tb(d, a.system_tb_opt)
            bar.set_postfix_str(f"{name}: verilator_system_tb {a.system_tb_opt} x{n}")
            so, t_so = timed(lambda: run_system_tb(d, s, p, p, copt=a.system_tb_opt), n)
            if so["cycles_total"] != cyc:
                raise SystemExit(f"{name}: Verilator system TB ({a.system_tb_opt}) cycles "
                                 f"{so['cycles_total']} != twin {cyc}")
            rec("verilator_system_tb_opt", t_so, so["cycles_total"])
            out["verilator_system_tb_opt"] = a.system_tb_opt
    bar.update(1)
    r = out["runs"]
    out["ratios"] = {}
    for k in r:
        for base in ("verilator_engine_jobs", "verilator_system_tb", "verilator_system_tb_opt"):
            if base in r and k != base and not k.startswith("verilator"):
                out["ratios"][f"{k} / {base}"] = r[k]["cycles_per_s"] / r[base]["cycles_per_s"]
    for k in ("twin_cycle", "twin_timing_only", "twin_fast_stepped"):
        out["ratios"][f"twin_fast / {k}"] = r["twin_fast"]["cycles_per_s"] / r[k]["cycles_per_s"]
    out["ratios"]["twin_timing_only / twin_timing_only_stepped"] = (
        r["twin_timing_only"]["cycles_per_s"] / r["twin_timing_only_stepped"]["cycles_per_s"])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="resnet50,small",
                    help="comma-separated: resnet50, small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prob", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--verilator-repeat", type=int, default=0,
                    help="Verilator system TB runs (0: 1 on resnet50, --repeat on small)")
    ap.add_argument("--size", type=int, default=32, help="input size of the small workload")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "sim_speed.json"))
    ap.add_argument("--no-verilator", action="store_true")
    ap.add_argument("--system-tb-opt", choices=("O1", "O2", "O3"), default=None,
                    help="also run the system testbench with its Verilator model compiled at "
                         "this C++ level (default build: Verilator's -Os)")
    ap.add_argument("--baseline-rev", help="also measure this git revision, alternating")
    ap.add_argument("--rounds", type=int, default=3, help="alternations with --baseline-rev")
    a = ap.parse_args(argv)
    a.system_tb_opt = a.system_tb_opt and "-" + a.system_tb_opt      # the compiler's flag
    if a.baseline_rev:
        return compare_revisions(a)
    from tqdm import tqdm

    names = [w.strip() for w in a.workload.split(",") if w.strip()]
    bad = [w for w in names if w not in ("resnet50", "small")]
    if bad or not names:
        raise SystemExit(f"sim_speed: --workload {a.workload!r} is invalid: allowed a "
                         f"comma-separated list of resnet50, small")
    res = {"seed": a.seed, "valid_prob": a.prob, "ready_prob": a.prob, "repeat": a.repeat,
           "machine": machine(), "date": time.strftime("%Y-%m-%d"), "workloads": {}}
    with tqdm(total=len(names) * (5 * a.repeat + 1), desc="sim_speed", unit="run") as bar:
        for w in names:
            res["workloads"][w] = measure(w, a, bar)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, a.out)
    for w, o in res["workloads"].items():
        print(f"{w}: cycles {o['cycles_total']}, MACs {o['macs']}, PE util "
              f"{o['pe_utilisation']:.3f}, export {o['export_s']:.2f} s")
        for k, v in o["runs"].items():
            print(f"  {k:32s} {v['wall_s']:8.3f} s  {v['cycles_per_s']:12.0f} cycles/s  "
                  f"{v['macs_per_s']:14.0f} MAC/s")
        for k, v in o["ratios"].items():
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
                if side == "now":
                    cmd += ["--workload", "small"]
                subprocess.run(cmd, check=True, capture_output=True, cwd=root)
                with open(out) as f:
                    j = json.load(f)
                runs = j["workloads"]["small"]["runs"] if "workloads" in j else j["runs"]
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
