"""verify_inference: run an exported model with the real C firmware on a simulator, check everything.

SIM='verilator': the SystemVerilog system testbench (rtl/tb/tb_system.sv, Verilator) — RTL engine,
SV DMA models, the C firmware compiled in via DPI-C, the seeded PRNG handshakes (architecture §5,
§11).
SIM='model': the digital twin (dsf_sim/models/system_model.py) — the numba engine + DMA model with
the same C firmware as a ctypes library; cycle-identical to the testbench. twin='fast' (default)
runs its job-level fast path (architecture §20: per-job values at once, the clock timing-only),
twin='cycle' computes every value cycle by cycle; both give the same cycles, events and bytes.

Both check every level bit-exactly against the export (packed inputs, raw engine stream per
(bundle, pass, iteration), post-processed bundle outputs, final output, softmax) and report cycles
per bundle, total, PE utilisation and bytes per channel (contract §8), written as JSON.
"""
from __future__ import annotations

import json
import os
import tempfile
import time

from ..compiler.export import load_export
from ..errors import DsfError

SIMS = ("verilator", "model")
TWIN_MODES = ("fast", "cycle")
SCHEMA = ("sim", "seed", "valid_prob", "ready_prob", "cycles_total", "done_cycle",
          "cycles_per_bundle", "events", "channels", "commands")


def run_sim(export_dir, SIM="verilator", seed=0, valid_prob=1.0, ready_prob=1.0,
            timing_only=False, watchdog=None, twin="fast") -> dict:
    """Run an export on one simulator; every level is checked unless timing_only."""
    from ..models.system_model import true_macs
    from ..runtime.check import compare_run

    if SIM not in SIMS:
        raise DsfError(f"verify_inference: SIM = {SIM!r} is invalid: allowed one of {SIMS}")
    if twin not in TWIN_MODES:
        raise DsfError(f"verify_inference: twin = {twin!r} is invalid: allowed one of "
                       f"{TWIN_MODES}")
    for name, p in (("valid_prob", valid_prob), ("ready_prob", ready_prob)):
        if not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise DsfError(f"verify_inference: {name} = {p!r} is invalid: allowed 0 < p <= 1")
    from ..compiler.export import check_export_files
    check_export_files(export_dir, load_export(export_dir)[1], "verify_inference")
    t0 = time.time()
    if SIM == "verilator":
        if timing_only:
            raise DsfError("timing_only = True is invalid with SIM='verilator': allowed only "
                           "with SIM='model'")
        from ..rtl_bridge.system_tb import run_system_tb
        res = run_system_tb(export_dir, seed=seed, valid_prob=valid_prob, ready_prob=ready_prob,
                            watchdog=watchdog, check=True)
        run = res.pop("run")
    else:
        from ..models.system_model import run_system_model
        res = run_system_model(export_dir, seed=seed, valid_prob=valid_prob,
                               ready_prob=ready_prob, timing_only=timing_only, watchdog=watchdog,
                               fast=twin == "fast" and not timing_only)
        run = res.pop("firmware_run")
        hw, manifest = load_export(export_dir)
        if not timing_only:
            compare_run(run, hw, manifest)
    hw, manifest = load_export(export_dir)
    macs, macs_b = true_macs(manifest)
    from ..runtime.sim_limits import expected_cycles
    out = {k: res[k] for k in SCHEMA}
    out["expected_cycles"] = expected_cycles(manifest, hw, valid_prob, ready_prob)
    out.update(
        bit_exact=not timing_only, timing_only=bool(timing_only),
        twin=None if SIM == "verilator" else ("timing_only" if timing_only else twin), macs=macs,
        macs_per_bundle=macs_b,
        pe_utilisation=macs / (hw.ROWS * hw.COLS * max(1, res["cycles_total"])),
        bytes_per_channel={k: v["bytes"] for k, v in res["channels"].items()},
        time_s_at_fmax=res["cycles_total"] / (hw.frequency_mhz * 1e6),
        wall_s=round(time.time() - t0, 3),
        final_output=None if timing_only else run.output.tolist())
    return out


def verify(model, SIM="verilator", SIM_PATH="", seed=0, out_dir=None, x=None, hw=None,
           valid_prob=None, ready_prob=None, timing_only=False, result_json=None, twin="fast"):
    if SIM not in SIMS:
        raise DsfError(f"verify_inference: SIM = {SIM!r} is invalid: allowed one of {SIMS}")
    hw = hw or getattr(model, "_dsf_last_hw", None)
    if hw is None:
        raise DsfError("verify_inference: hw = None is invalid: allowed a Hardware "
                       "(call export_inference(hw=...) first or pass hw=)")
    out_dir = out_dir or getattr(model, "_dsf_last_out", None) or tempfile.mkdtemp(prefix="dsf_v_")
    if x is not None or not os.path.exists(os.path.join(out_dir, "manifest.json")):
        model.export_inference(x=model.random_input if x is None else x, hw=hw, out_dir=out_dir)
    else:          # an earlier export: it must be this model's, for this hardware
        from ..compiler.export import check_export_belongs
        check_export_belongs(out_dir, hw, model)
    vp = hw.valid_prob if valid_prob is None else valid_prob
    rp = hw.ready_prob if ready_prob is None else ready_prob
    res = run_sim(out_dir, SIM, seed, vp, rp, timing_only=timing_only, twin=twin)
    path = result_json or os.path.join(out_dir, f"verify_{SIM}_seed{seed}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(out_dir, f"commands_{SIM}_seed{seed}.jsonl"), "w") as f:
        for c in res["commands"]:
            f.write(json.dumps(c) + "\n")
    what = "cycles only (timing-only)" if timing_only else "bit-exact at every level"
    sim = SIM if SIM == "verilator" or timing_only else f"{SIM} ({twin})"
    print(f"verify_inference[{sim}, seed {seed}, valid {vp}, ready {rp}]: {what}; cycles per "
          f"bundle {res['cycles_per_bundle']}, total {res['cycles_total']}, PE utilisation "
          f"{100 * res['pe_utilisation']:.1f}% -> {path}")
    return res
