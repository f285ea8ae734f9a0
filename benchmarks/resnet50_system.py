"""Whole-system simulation time of a full 224x224 ResNet-50 conv stack on configs/kraken.json.

Exports the network (integer reference, no float check), then runs the digital twin
(dsf_sim.models.system_model: real C firmware + DMA + engine, architecture §11) cycle-accurate
and timing-only, and reports simulated cycles, wall time and cycles/s. Writes
benchmarks/results/resnet50_system.json.
Usage: .venv/bin/python benchmarks/resnet50_system.py [--input-size 224] [--bits 4]
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--hw", default=os.path.join(HERE, "..", "configs", "kraken.json"))
    ap.add_argument("--skip-accurate", action="store_true")
    args = ap.parse_args(argv)
    from dsf_sim import Hardware
    from dsf_sim.models.system_model import run_system_model
    from dsf_sim.api.networks import build

    hw = Hardware.from_json(args.hw)
    if hw.X_BITS != args.bits:
        d = hw.to_dict()
        d.update(bits_input=args.bits, bits_weights=args.bits)
        hw = Hardware.from_dict(d)
    model = build("resnet50", hw, bits=args.bits, input_size=args.input_size)
    out = tempfile.mkdtemp(prefix="dsf_r50_")
    t0 = time.time()
    model.export_inference(x=model.random_input, hw=hw, out_dir=out, check=False)
    t_export = time.time() - t0
    res = {"network": "resnet50", "input_size": args.input_size, "bits": args.bits,
           "hardware": os.path.basename(args.hw), "export_s": round(t_export, 1),
           "nproc": os.cpu_count()}
    modes = [("timing_only", True)] + ([] if args.skip_accurate else [("cycle_accurate", False)])
    for name, tonly in modes:
        run_system_model(out, seed=1, timing_only=tonly)  # JIT warm-up on the same export
        t0 = time.time()
        r = run_system_model(out, seed=1, valid_prob=1.0, ready_prob=1.0, timing_only=tonly)
        wall = time.time() - t0
        bit_exact = None
        if not tonly:  # every level against the export (outside the timed region)
            from dsf_sim.compiler.export import load_export
            from dsf_sim.runtime.check import compare_run
            h, manifest = load_export(out)
            compare_run(r["firmware_run"], h, manifest)
            bit_exact = True
        res[name] = {"cycles": r["cycles_total"], "cycles_per_bundle": r["cycles_per_bundle"],
                     "wall_s": round(wall, 2), "bit_exact": bit_exact,
                     "cycles_per_s": round(r["cycles_total"] / wall),
                     "fps_at_fmax": round(hw.frequency_mhz * 1e6 / r["cycles_total"], 2),
                     "pe_utilisation": round(r["pe_utilisation"], 4)}
        print(name, res[name], flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "resnet50_system.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
