"""Bank-level vs transaction-level DRAM (issue 16): access-pattern bandwidths of each part
against its datasheet peak, and ResNet-50 (224, Kraken 7x96, 4-bit) on both SoC models, with
CPU none / a53 (assumed) / a53-measured, the stall split by cause. Writes
benchmarks/results/dram_models.json.  Usage: .venv/bin/python benchmarks/dram_models.py
"""
import dataclasses
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))


def patterns():
    from dsf_sim.models.dram_banks import BANK_PRESETS, stream_bandwidth
    out = {}
    rng = np.random.default_rng(0)
    for name, t in BANK_PRESETS.items():
        seq = np.arange(0, 64 << 20, 4096)
        stride = t.page_bytes * t.bank_groups * t.banks_per_group
        lin = dataclasses.replace(t, mapping="row-bank-col")
        out[name] = dict(
            peak_gbs=round(t.peak_gbs, 2),
            sequential_4k=round(stream_bandwidth(t, seq, 4096), 2),
            sequential_4k_row_bank_col=round(stream_bandwidth(lin, seq, 4096), 2),
            read_write_alternating_4k=round(stream_bandwidth(t, seq, 4096,
                                                             np.arange(len(seq)) % 2), 2),
            random_64b=round(stream_bandwidth(t, rng.integers(0, 1 << 30, 50000) // 64 * 64,
                                              64), 2),
            one_bank_rows_64b=round(stream_bandwidth(lin, np.arange(20000) * stride, 64), 3))
    return out


def main():
    from tqdm import tqdm
    from dsf_sim.api.networks import build
    from dsf_sim.compiler.hardware import Hardware
    from dsf_sim.models.soc_model import SocConfig, run_soc
    from dsf_sim.perf import bench as B
    res = dict(patterns=patterns(), resnet50=[])
    hw = Hardware.from_json(os.path.join(HERE, "..", "configs", "kraken.json"))
    layers = B.simulate(B.layer_list(build("resnet50", hw, bits=4), hw), hw)
    runs = [(d, c) for d in ("ddr4-2400", "lpddr4-3200", "zcu104-ps")
            for c in ("none", "a53", "a53-measured")]
    for dram, cpu in tqdm(runs, desc="SoC runs", unit="point"):
        row = dict(dram=dram, cpu=cpu)
        for dm in ("transaction", "bank"):
            t0 = time.time()
            r = run_soc(layers, hw, SocConfig.preset(dram, cpu, dram_model=dm),
                        record_timeline=False)
            row[f"fps_{dm}"] = round(r.fps, 2)
            row[f"wall_s_{dm}"] = round(time.time() - t0, 2)
            causes = {}
            for li in range(len(layers)):
                for k, v in r.attribution(li).items():
                    causes[k] = causes.get(k, 0.0) + v
            row[f"causes_ms_{dm}"] = {k: round(v * 1e3, 3) for k, v in
                                      sorted(causes.items(), key=lambda t: -t[1]) if v > 1e-6}
            if dm == "bank":
                row["row_hit_rate"] = round(r.dram["row_hit_rate"], 4)
                row["refreshes"] = r.dram["refreshes"]
        row["bank_vs_transaction_pct"] = round(100 * (row["fps_bank"] / row["fps_transaction"]
                                                      - 1), 2)
        res["resnet50"].append(row)
    path = os.path.join(HERE, "results", "dram_models.json")
    with open(path + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(path + ".tmp", path)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
