"""The SoC model's per-layer estimate against the twin with valid/ready from the DMA/DRAM model
at cycle level (issue 16 point 4, `dsf profile --exact`): ResNet-50 (224, Kraken 7x96, 4-bit),
with the engine finishing layers (post auto) and with raw sums (post off, where 1x1 layers are
output-bound), DDR4-2400 and LPDDR4-3200, bank- and transaction-level DRAM. Every layer is
checked; the table names the most compute-, pixel- and output-bound one. Each estimate also
with the SoC model before it was corrected by this check ("before": skip read after the compute,
a burst landing at once). Writes benchmarks/results/exact_coupling.json and exact_coupling.png.
Usage: .venv/bin/python benchmarks/exact_coupling.py [--input-size N]
"""
import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    from tqdm import tqdm
    from dsf_sim.api.networks import build
    from dsf_sim.models.soc_model import SocConfig
    from dsf_sim.perf.exact_layer import exact_check, representative
    from dsf_sim.perf.report import engine_layers, load_hw

    hw = load_hw("configs/kraken.json")
    model = build("resnet50", hw, input_size=args.input_size)
    res = dict(network="resnet50", input_size=args.input_size, hw="kraken.json", runs=[])
    for post in ("auto", "off"):
        layers = engine_layers(model, hw, post=post)
        rep = {lp.name: k for k, lp in representative(layers).items()}
        for dram in ("ddr4-2400", "lpddr4-3200"):
            for dm in ("bank", "transaction"):
                cfg = SocConfig.preset(dram, "none", dram_model=dm)
                before = dataclasses.replace(cfg, pieces=1, skip_after_compute=True)
                t0 = time.time()
                rows = []
                for lp in tqdm(layers, desc=f"post {post} {dram} {dm}", leave=False):
                    r = exact_check(lp, hw, cfg, others={"before": before})
                    r["shows"] = rep.get(lp.name, "")
                    rows.append(r)
                errs = [abs(r["error_pct"]) for r in rows]
                errs0 = [abs(r["others_error_pct"]["before"]) for r in rows]
                ex = sum(r["exact_us"] for r in rows)
                est = sum(r["estimate_us"] for r in rows)
                res["runs"].append(dict(
                    post=post, dram=dram, dram_model=dm, wall_s=round(time.time() - t0, 1),
                    twin_cycles=sum(r["twin_cycles"] for r in rows),
                    max_abs_error_pct=max(errs), mean_abs_error_pct=sum(errs) / len(errs),
                    before_max_abs_error_pct=max(errs0),
                    before_mean_abs_error_pct=sum(errs0) / len(errs0),
                    sum_exact_us=ex, sum_estimate_us=est, sum_error_pct=100 * (est - ex) / ex,
                    representative={r["shows"]: {k: r[k] for k in
                                                 ("name", "ideal_us", "exact_us",
                                                  "estimate_us", "error_pct",
                                                  "others_error_pct")}
                                    for r in rows if r["shows"]},
                    layers=rows))
                print(f"post {post} {dram} {dm}: max |error| {max(errs):.2f} % (before "
                      f"{max(errs0):.2f}), mean {sum(errs) / len(errs):.2f} %, frame {ex:.1f} us exact vs {est:.1f} us "
                      f"estimated; {res['runs'][-1]['wall_s']} s")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "exact_coupling.json")
    with open(path + ".tmp", "w") as f:
        json.dump(res, f, indent=1, default=float)
    os.replace(path + ".tmp", path)
    plot(res, os.path.join(args.out, "exact_coupling.png"))
    print(path)


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = [r for r in res["runs"] if r["dram"] == "ddr4-2400"]
    fig, axes = plt.subplots(len(runs), 1, figsize=(11, 2.2 * len(runs)), sharex=True)
    for ax, r in zip(axes, runs):
        e = [x["error_pct"] for x in r["layers"]]
        ax.bar(range(len(e)), e, color=["tab:red" if x["shows"] else "tab:blue"
                                        for x in r["layers"]])
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("error %", fontsize=7)
        ax.set_title(f"post {r['post']}, {r['dram']} {r['dram_model']}: SoC estimate vs twin "
                     f"coupled at cycle level (red: most compute/pixel/output-bound)", fontsize=8)
    names = [x["name"] for x in runs[0]["layers"]]
    axes[-1].set_xticks(range(len(names)))
    axes[-1].set_xticklabels(names, rotation=90, fontsize=5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
