"""The tiny ViT and the BERT-tiny-style encoder (issue 14, architecture §22) on
configs/kraken.json: bit-exact on the twin and on the RTL with identical cycles (real C firmware,
random handshakes), and frames / sequences per second with DDR4-2400 and the A53 firmware model,
with the share of the frame in matmul, softmax, LayerNorm and GELU.

Writes benchmarks/results/transformers.json (+ the bench's JSON/CSV/PNG per model).
Usage: .venv/bin/python benchmarks/transformers.py [--models vit_tiny,bert_tiny] [--no-rtl]
"""
import argparse
import json
import os
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_one(name, hw, seed, vp, rp, rtl, out_dir):
    from dsf_sim.api.networks import build
    from dsf_sim.flows.verify import run_sim
    from dsf_sim.perf.report import run_bench
    model = build(name, hw)
    d = tempfile.mkdtemp(prefix=f"dsf_{name}_")
    t0 = time.time()
    model.export_inference(x=model.random_input, hw=hw, out_dir=d)
    row = {"network": name, "bundles": len(model.bundles), "export_s": round(time.time() - t0, 2),
           "matmul_bundles": sum(b.is_matmul for b in model.bundles), "seed": seed,
           "valid_prob": vp, "ready_prob": rp}
    t0 = time.time()
    twin = run_sim(d, "model", seed, vp, rp)          # every level compared bit-exactly
    row.update(twin_cycles=twin["cycles_total"], twin_s=round(time.time() - t0, 2))
    if rtl:
        t0 = time.time()
        ver = run_sim(d, "verilator", seed, vp, rp)
        row.update(rtl_cycles=ver["cycles_total"], rtl_s=round(time.time() - t0, 2),
                   identical=all(ver[k] == twin[k] for k in
                                 ("cycles_total", "cycles_per_bundle", "events", "commands")))
    res = run_bench(model, name, hw, "kraken.json", dram="ddr4-2400", out=out_dir,
                    progress=False, post="auto")
    row.update(engine_fps=res["engine"]["fps"], system_fps=res["soc"]["fps"],
               cpu_ms=res["soc"]["cpu_ms"], utilisation=res["engine"]["utilisation"],
               macs=res["engine"]["macs"], op_share=res["op_share"])
    # the same run with the firmware's fn tables off (GELU and softmax's exp element by
    # element, as before they existed): the SoC model's before / after
    from dsf_sim.perf.report import _system, engine_layers
    layers = engine_layers(model, hw, progress=False)
    for lp in layers:
        lp.fn_lut = 0
    _, _, before = _system(layers, hw, "ddr4-2400", "a53")
    row.update(system_fps_no_tables=before["fps"], cpu_ms_no_tables=before["cpu_ms"])
    return row


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="vit_tiny,bert_tiny")
    ap.add_argument("--hw", default=os.path.join(HERE, "..", "configs", "kraken.json"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--valid-prob", type=float, default=0.6)
    ap.add_argument("--ready-prob", type=float, default=0.7)
    ap.add_argument("--no-rtl", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    from tqdm import tqdm
    from dsf_sim import Hardware
    hw = Hardware.from_json(args.hw)
    rows = []
    for name in tqdm(args.models.split(","), desc="transformers", unit="model"):
        rows.append(run_one(name, hw, args.seed, args.valid_prob, args.ready_prob,
                            not args.no_rtl, args.out))
        r = rows[-1]
        print(f"{name}: twin {r['twin_cycles']} cycles ({r['twin_s']} s)"
              + (f", RTL {r['rtl_cycles']} cycles ({r['rtl_s']} s), identical {r['identical']}"
                 if "rtl_cycles" in r else "")
              + f"; engine-only {r['engine_fps']:.0f}/s, with DDR4-2400 + A53 "
                f"{r['system_fps']:.1f}/s (fn tables off: {r['system_fps_no_tables']:.1f}/s); "
                f"share: "
              + ", ".join(f"{k} {v:.1%}" for k, v in r["op_share"].items()))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "transformers.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"hw": os.path.basename(args.hw), "rows": rows}, f, indent=1, default=float)
    os.replace(tmp, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
