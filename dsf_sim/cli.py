"""`dsf` command line: export, verify, lockstep, bench, profile, build, info.

Model files: see dsf_sim/api/model_file.py.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from .api.model_file import load_model, resolve_network
from .compiler.rtl_config import export_files


def cmd_export(args):
    model, hw = load_model(args.model, args.hw)
    os.makedirs(args.out, exist_ok=True)
    export_files(hw, args.out)
    ex = model.export_inference(x=model.random_input, hw=hw, out_dir=args.out, post=args.post)
    print(f"exported {len(ex.bundles)} bundles to {args.out}: "
          f"{', '.join(sorted(os.path.basename(p) for p in ex.files if '/' not in p))}")
    for be in ex.bundles:
        m = be.mapping
        how = ("finished on chip" + (" (skip: producer's output)" if be.post.skip_direct else "")
               if be.post.finish else f"raw sums ({be.post.reason})")
        print(f"  bundle {be.idx}: {m.kind} engine kernel {m.KH}x{m.KW} image "
              f"{m.XN}x{m.H.size_e}x{m.W.size_e}x{m.CI_E} -> CO {m.CO}: "
              f"{m.CP} pass(es) x {m.IT} iteration(s)"
              + (f" in {len(m.parts)} parts" if m.multi else "") + f"; {how}")
    return 0


def cmd_import(args):
    """A trained QKeras model file -> bundles, exported (and optionally verified)."""
    from .api.hardware import Hardware
    from .api.importer import from_keras
    from .assets import config_path
    from .flows.verify import run_sim
    hw = Hardware.from_json(config_path(args.hw))
    q = from_keras(args.model, hw, batch_size=args.batch)
    out = args.out or hw.data_dir
    ex = q.export_inference(x=q.random_input, hw=hw, out_dir=out)
    print(f"imported {args.model}: {len(ex.bundles)} bundles "
          f"({', '.join(b.name for b in q.bundles)}) -> {out}")
    if args.verify:
        r = run_sim(out, args.verify, args.seed, hw.valid_prob, hw.ready_prob)
        print(f"verify[{args.verify}, seed {args.seed}]: bit-exact at every level, "
              f"{r['cycles_total']} cycles")
    return 0


def cmd_verify(args):
    model, hw = load_model(args.model, args.hw)
    out = args.out or tempfile.mkdtemp(prefix="dsf_verify_")
    model.export_inference(x=model.random_input, hw=hw, out_dir=out)
    res = model.verify_inference(SIM=args.sim, seed=args.seed, hw=hw, out_dir=out,
                                 valid_prob=args.valid_prob, ready_prob=args.ready_prob)
    print(json.dumps({k: res[k] for k in ("sim", "seed", "valid_prob", "ready_prob", "bit_exact",
                                          "cycles_per_bundle", "cycles_total")}))
    return 0


def _version(cmd):
    exe = shutil.which(cmd[0])
    if not exe:
        return "not found"
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception as e:  # pragma: no cover - informative only
        return f"error: {e}"


def cmd_info(args):
    from importlib import metadata

    rows = {"python": sys.version.split()[0]}
    for pkg in ("dsf_sim", "numpy", "numba", "simpy", "tensorflow", "tf-keras", "qkeras",
                "pyverilator-mm", "matplotlib"):
        try:
            rows[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            rows[pkg] = "not installed"
    rows["verilator"] = _version(["verilator", "--version"])
    rows["iverilog"] = _version(["iverilog", "-V"])
    rows["yosys"] = _version(["yosys", "-V"])
    rows["gcc"] = _version(["gcc", "--version"])
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        w = max(map(len, rows))
        for k, v in rows.items():
            print(f"{k:<{w}}  {v}")
    return 0


def cmd_lockstep(args):
    from .flows.equivalence import lockstep_model
    model, hw = load_model(args.model, args.hw)
    res, cert = lockstep_model(model, hw, seed=args.seed, valid_prob=args.valid_prob,
                               ready_prob=args.ready_prob, window=args.window, out_dir=args.out,
                               cert_path=args.cert, name=os.path.basename(args.model))
    if not res.passed:
        print(res.report)
        return 1
    print(f"lockstep OK: {res.jobs} jobs, {res.cycles} cycles, every port and "
          f"debug signal equal every cycle (seed {args.seed})")
    print(f"equivalence certificate: {cert}")
    return 0


def cmd_bench(args):
    from .perf.report import format_table, load_hw, run_bench
    hw = load_hw(args.hw, args.bits)
    model, name, ref = resolve_network(args.network, hw, args.input_size)
    res = run_bench(model, name, hw, os.path.basename(args.hw), dram=args.dram,
                    input_size=args.input_size, out=args.out, cpu=args.cpu, exact=args.exact,
                    plots=not args.no_plots, reference_fps=ref, post=args.post)
    print(format_table(res))
    if args.out:
        print(f"wrote JSON/CSV{'' if args.no_plots else '/PNG'} to {args.out}")
    return 0


def cmd_profile(args):
    from .perf.report import load_hw, run_profile
    bws = [float(v) for v in args.bw.split(",")]
    hw = load_hw(args.hw, args.bits)
    model, name, _ = resolve_network(args.network, hw, args.input_size)
    res = run_profile(model, name, hw, os.path.basename(args.hw), bws, out=args.out, cpu=args.cpu)
    print(f"{res['network']} {res['bits']}-bit on {res['hw']}: engine-only {res['engine_fps']:.1f} fps")
    for p in res["points"]:
        print(f"  {p['bw_gbs']:>7.2f} GB/s: {p['fps']:>8.2f} fps, {p['memory_bound_layers']} "
              f"memory-bound layers")
    for ln, bw in sorted(res["memory_bound_below_gbs"].items(), key=lambda t: -t[1]):
        print(f"  {ln}: memory-bound at <= {bw:g} GB/s")
    if res.get("plot"):
        print(f"plot: {res['plot']}")
    return 0


def cmd_build(args):
    """FPGA/ASIC build scripts (gated on an equivalence certificate) or a yosys estimate."""
    from .api.hardware import Hardware
    from .flows.build_flows import asic_tcl, vivado_tcl, yosys_estimate
    from .assets import config_path
    hw = Hardware.from_json(config_path(args.hw))
    if args.flow == "vivado":
        print(vivado_tcl(hw, args.board, args.out, args.cert, args.force))
    elif args.flow == "asic":
        for name, path in asic_tcl(hw, args.out, args.cert, args.force).items():
            print(path)
    else:
        r = yosys_estimate(hw, args.out)
        print(f"yosys generic cells: {r['cells_total']}")
        with open(os.path.join(args.out, "yosys_estimate.json"), "w") as f:
            json.dump({k: v for k, v in r.items() if k != "stat"}, f, indent=1)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="dsf", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("export", help="export a model's engine inputs and expected vectors")
    p.add_argument("model")
    p.add_argument("--out", default="vectors")
    p.add_argument("--hw", help="hardware.json (default: the model file's own)")
    p.add_argument("--post", default="auto", choices=["auto", "off", "on"],
                   help="on-chip post-processing (architecture §17): auto = every bundle the "
                        "output pipeline finishes exactly, off = raw sums, on = auto or error")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("import", help="map a trained QKeras model (.h5 / .keras) onto bundles "
                                      "and export it")
    p.add_argument("model")
    p.add_argument("--hw", required=True, help="hardware.json / configs/*.json / a config name")
    p.add_argument("--out", default=None, help="export folder (default: the hardware's data_dir)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--verify", choices=["model", "verilator"], default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_import)
    p = sub.add_parser("verify", help="run a model on a simulator, check every level bit-exactly")
    p.add_argument("model")
    p.add_argument("--sim", default="verilator", choices=["verilator", "model"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    p.add_argument("--hw")
    p.add_argument("--valid-prob", type=float, default=None)
    p.add_argument("--ready-prob", type=float, default=None)
    p.set_defaults(fn=cmd_verify)
    p = sub.add_parser("lockstep", help="RTL vs cycle model, every port every cycle; writes an "
                       "equivalence certificate on success")
    p.add_argument("model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=16, help="cycles shown / dumped before a divergence")
    p.add_argument("--hw")
    p.add_argument("--out", default=None, help="export + VCD directory (default: a temp dir)")
    p.add_argument("--cert", default=None, help="certificate path (default: build/certificates/)")
    p.add_argument("--valid-prob", type=float, default=None)
    p.add_argument("--ready-prob", type=float, default=None)
    p.set_defaults(fn=cmd_lockstep)
    p = sub.add_parser("info", help="versions of the tools dsf_sim uses")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_info)
    from .models.soc_model import CPU_PRESETS, DRAM_PRESETS
    p = sub.add_parser("bench", help="per-layer performance from the cycle model (+ SoC/DRAM model)")
    p.add_argument("network", help="alexnet | vgg16 | resnet50 | MODEL.py")
    p.add_argument("--hw", default="configs/kraken.json")
    p.add_argument("--dram", default="ideal", choices=sorted(DRAM_PRESETS))
    p.add_argument("--cpu", default=None, choices=sorted(CPU_PRESETS),
                   help="firmware CPU model (default: none for ideal DRAM, else a53)")
    p.add_argument("--bits", type=int, choices=[4, 8], default=None)
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--exact", action="store_true", help="simulate every job (slower)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--post", default="both", choices=["both", "auto", "off"],
                   help="on-chip post-processing: auto (as the export decides), off (all raw), "
                        "both (auto with off beside it; default)")
    p.set_defaults(fn=cmd_bench)
    p = sub.add_parser("build", help="Vivado / Genus-Innovus scripts (need an equivalence "
                                     "certificate from `dsf lockstep`) or a yosys area estimate")
    p.add_argument("flow", choices=["vivado", "asic", "yosys"])
    p.add_argument("--hw", required=True, help="hardware.json / configs/*.json")
    p.add_argument("--out", default="build_flow")
    p.add_argument("--board", default="zcu104")
    p.add_argument("--cert", default=None, help="certificate path (default: build/certificates/)")
    p.add_argument("--force", action="store_true",
                   help="build without a matching certificate (printed loudly)")
    p.set_defaults(fn=cmd_build)
    p = sub.add_parser("profile", help="fps vs DRAM bandwidth, where layers turn memory-bound")
    p.add_argument("network")
    p.add_argument("--hw", default="configs/kraken.json")
    p.add_argument("--bw", default="1,2,4,8,16,32", help="GB/s, comma separated")
    p.add_argument("--cpu", default="none", choices=sorted(CPU_PRESETS))
    p.add_argument("--bits", type=int, choices=[4, 8], default=None)
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--out", default="bench_out")
    p.set_defaults(fn=cmd_profile)
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except ValueError as e:  # our errors are ValueErrors with a full message
        print(f"dsf: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
