"""How far can lowerings go? Per layer, the twin's cycles against the mapping bound (dsf_sim.perf.bounds).

For each network on one hardware configuration: the bench layers as the export lowers them, their
cycles from the twin (timing, == RTL), and the bound no lowering can beat under the contract's row
and column rules. Shows whether an fps target needs a better lowering or a new engine feature.
Writes results/mapping_bounds.json, .csv and mapping_bounds.png.
Usage: .venv/bin/python benchmarks/mapping_bounds.py [--nets resnet50,alexnet,vgg16] [--bits 4]
"""
import argparse
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

# engine-only targets of issue 10 (fps at 400 MHz on configs/kraken.json)
TARGETS = {"resnet50": 64.2, "alexnet": 390.0, "vgg16": 17.3}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="resnet50,alexnet,vgg16")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--hw", default=os.path.join(ROOT, "configs", "kraken.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from tqdm import tqdm
    from dsf_sim import Hardware
    from dsf_sim.api.networks import build
    from dsf_sim.perf import bench
    from dsf_sim.perf.bounds import network_bound

    hw = Hardware.from_json(a.hw)
    d = hw.to_dict()
    d.update(bits_input=a.bits, bits_weights=a.bits)
    hw = Hardware.from_dict(d)
    res, rows = {"hw": os.path.basename(a.hw), "bits": a.bits, "networks": {}}, []
    from dsf_sim.api.networks import NETWORKS
    nets = [n for n in a.nets.split(",") if n]
    bad = [n for n in nets if n not in NETWORKS]
    if bad or not nets:
        ap.error(f"--nets {a.nets!r} is invalid: allowed a comma-separated list of {sorted(NETWORKS)}")
    for net in tqdm(nets, desc="networks", unit="net"):
        model = build(net, hw, bits=a.bits)
        layers = bench.layer_list(model, hw)
        bench.simulate(layers, hw)
        t = bench.totals(layers, hw)
        nb = network_bound(layers, hw)
        for lp, b in zip(layers, nb["layers"]):
            b.update(cycles=lp.cycles, engine_kernel=list(lp.engine_kernel),
                     utilisation=lp.utilisation,
                     bound_utilisation=lp.macs / (hw.ROWS * hw.COLS * b["bound_cycles"]))
            rows.append(dict(network=net, **b))
        res["networks"][net] = dict(
            fps=t["fps"], bound_fps=nb["bound_fps"], ideal_fps=nb["ideal_fps"],
            target_fps=TARGETS.get(net), cycles=t["cycles"], bound_cycles=nb["bound_cycles"],
            row_loss_cycles=nb["row_loss_cycles"], column_loss_cycles=nb["column_loss_cycles"],
            target_reachable=(TARGETS.get(net) is None or nb["bound_fps"] >= TARGETS[net]),
            layers=nb["layers"])
    os.makedirs(a.out, exist_ok=True)
    _write(os.path.join(a.out, "mapping_bounds.json"), json.dumps(res, indent=1))
    with open(os.path.join(a.out, "mapping_bounds.csv.tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    os.replace(os.path.join(a.out, "mapping_bounds.csv.tmp"),
               os.path.join(a.out, "mapping_bounds.csv"))
    _plot(res, os.path.join(a.out, "mapping_bounds.png"))
    for net, r in res["networks"].items():
        print(f"{net}: {r['fps']:.1f} fps now, bound {r['bound_fps']:.1f}, ideal "
              f"{r['ideal_fps']:.1f}, target {r['target_fps']} -> "
              f"{'reachable' if r['target_reachable'] else 'NOT reachable by lowering alone'}"
              f" (row loss {r['row_loss_cycles']:.0f}, column loss "
              f"{r['column_loss_cycles']:.0f} cycles)")


def _write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def _plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    nets = list(res["networks"])
    fig, axes = plt.subplots(len(nets), 1, figsize=(12, 3.2 * len(nets)), squeeze=False)
    for ax, net in zip(axes[:, 0], nets):
        r = res["networks"][net]
        L = r["layers"]
        x = range(len(L))
        ax.bar([i - 0.2 for i in x], [b["utilisation"] for b in L], 0.4, label="twin (as lowered)")
        ax.bar([i + 0.2 for i in x], [b["bound_utilisation"] for b in L], 0.4,
               label="mapping bound (rows x columns)")
        ax.set_xticks(list(x))
        ax.set_xticklabels([b["name"] for b in L], rotation=90, fontsize=6)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("PE utilisation")
        ax.set_title(f"{net}: {r['fps']:.1f} fps, bound {r['bound_fps']:.1f}, target "
                     f"{r['target_fps']}, ideal {r['ideal_fps']:.1f}")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


if __name__ == "__main__":
    main()
