"""`dsf` command line: export, verify, lockstep, bench, profile, sweep, build, info, fuzz.

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
from .errors import HardwareError


class _Parser(argparse.ArgumentParser):
    """argparse, with a user's mistake reported as one `dsf: error: ...` line (exit 2), not a
    usage block (`dsf CMD -h` shows the usage)."""

    def error(self, message):
        print(f"dsf: error: {message} (see `{self.prog} -h`)", file=sys.stderr)
        sys.exit(2)


def _int_at_least(lo):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{v} is invalid: allowed an integer >= {lo}")
        return v
    parse.__name__ = "integer"
    return parse


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _probability(text):
    v = _number(text)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"{v} is invalid: allowed 0 < p <= 1")
    return v


def _positive(text):
    v = _number(text)
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{v} is invalid: allowed a finite number > 0")
    return v


def _bandwidths(text):
    """--bw: comma-separated GB/s, each > 0."""
    vals = [_positive(v.strip()) for v in text.split(",") if v.strip()]
    if not vals:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: allowed GB/s values such as 1,2,4")
    return vals


def _layer_names(text):
    names = [t.strip() for t in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: an empty layer name (expected "
                                         f"LAYER[,LAYER...])")
    return names


def _folder(text):
    """An output folder: may exist (as a folder) or not yet; a file of that name is refused
    before any work starts."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a file: allowed a folder (existing or new)")
    return text


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
                                 valid_prob=args.valid_prob, ready_prob=args.ready_prob,
                                 twin=args.twin)
    print(json.dumps({k: res[k] for k in ("sim", "twin", "seed", "valid_prob", "ready_prob",
                                          "bit_exact", "cycles_per_bundle", "cycles_total",
                                          "wall_s")}))
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


def cmd_sweep(args):
    """A design-space sweep on Dask (dsf_sim/sweep/): results, Pareto plots, HTML report."""
    from .errors import DsfError
    from .sweep.runner import run_sweep
    from .sweep.spec import load_spec
    if args.workers is not None and args.scheduler:
        raise DsfError("--workers is invalid with --scheduler: allowed one of them (--workers "
                       "sizes the embedded LocalCluster; a running cluster has its own workers)")
    spec = load_spec(args.spec)
    if args.workers is not None:
        spec.workers = args.workers
    res = run_sweep(spec, args.out, scheduler=args.scheduler, progress=not args.no_progress,
                    connect_timeout=args.connect_timeout)
    print(f"sweep: {res['points']} points: {res['computed']} computed ({res['ok']} ok, "
          f"{res['infeasible']} infeasible, {res['errors']} errors), {res['cached']} from the "
          f"cache; {res['engine_tasks']} engine and {res['synth_tasks']} synth tasks; "
          f"{res['wall_s']:.1f} s -> {res['parquet']}")
    for net, png in res.get("plots", {}).items():
        print(f"plot ({net}): {png}")
    if res.get("report"):
        print(f"report: {res['report']}")
    return 1 if res["errors"] else 0


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


def cmd_fuzz(args):
    from .flows.fuzz import campaign
    s = campaign(args.cases, args.rtl_every, args.seed, out_dir=args.out)
    print(f"fuzz: {s['cases']} cases from seed {s['seed']}: {s['pass']} pass, {s['refused']} "
          f"refused by name, {s['fail']} fail; {s['rtl_cases']} checked on the RTL; "
          f"{s['wall_s']} s -> {os.path.join(args.out, 'fuzz_summary.json')}")
    for f in s["failures"]:
        print(f"  FAIL seed {f['seed']}: {f['reason'][:300]} (case and its shrunk variant in "
              f"{os.path.join(args.out, 'failures')})")
    return 1 if s["fail"] else 0


def cmd_profile(args):
    from .perf.report import load_hw, run_profile
    bws = args.bw
    hw = load_hw(args.hw, args.bits)
    model, name, _ = resolve_network(args.network, hw, args.input_size)
    res = run_profile(model, name, hw, os.path.basename(args.hw), bws, out=args.out, cpu=args.cpu,
                      dram=args.dram, dram_model=args.dram_model, exact=args.exact)
    print(f"{res['network']} {res['bits']}-bit on {res['hw']}: engine-only {res['engine_fps']:.1f} fps")
    for p in res["points"]:
        print(f"  {p['bw_gbs']:>7.2f} GB/s: {p['fps']:>8.2f} fps, {p['memory_bound_layers']} "
              f"memory-bound layers")
    for ln, bw in sorted(res["memory_bound_below_gbs"].items(), key=lambda t: -t[1]):
        print(f"  {ln}: memory-bound at <= {bw:g} GB/s")
    st = res["stalls"]
    other = "transaction" if st["dram_model"] == "bank" else "bank"
    print(f"one frame on {st['dram']} ({st['dram_model']} DRAM model, CPU {st['cpu']}): "
          f"{st['fps']:.2f} fps ({other}-level {st[f'fps_{other}']:.2f}, "
          f"{st['difference_pct']:+.1f} %)" + (
              f"; row hits {100 * st['dram_counters']['row_hit_rate']:.1f} %, "
              f"{st['dram_counters']['refreshes']} refreshes" if st["dram_counters"] else ""))
    total = sum(st["causes_us"].values()) or 1.0
    print("  where the frame goes: " + ", ".join(
        f"{k} {v / 1e3:.2f} ms ({100 * v / total:.1f} %)"
        for k, v in list(st["causes_us"].items())[:8]))
    worst = sorted(st["layers"], key=lambda r: -(r["layer_us"] - r["parts_us"].get("compute", 0)))
    for r in worst[:5]:
        top = sorted(((k, v) for k, v in r["parts_us"].items() if k != "compute"),
                     key=lambda t: -t[1])[:3]
        print(f"  {r['name']}: {r['layer_us']:.1f} us, compute {r['parts_us'].get('compute', 0):.1f}"
              + "".join(f", {k} {v:.1f}" for k, v in top))
    for r in res["exact"]:
        print(f"  --exact {r['name']} ({r['jobs']} jobs, {st['dram']} {r['dram']}): twin with "
              f"DMA/DRAM valid/ready {r['exact_us']:.2f} us, SoC estimate "
              f"{r['estimate_us']:.2f} us ({r['error_pct']:+.2f} %), ideal streams "
              f"{r['ideal_us']:.2f} us")
    for k in ("plot",):
        if res.get(k):
            print(f"plot: {res[k]}")
    for k, v in st.get("plots", {}).items():
        print(f"plot ({k}): {v}")
    return 0


def _build_hw(args):
    """The build's hardware: --hw, else the export's own (an export for another hardware is
    refused by the flow)."""
    from .api.hardware import Hardware
    from .assets import config_path
    from .compiler.export import load_export
    if args.hw:
        return Hardware.from_json(config_path(args.hw))
    if getattr(args, "export", None):
        return Hardware.from_dict(load_export(args.export)[0].to_dict())
    raise HardwareError("--hw", None, "a hardware.json / configs/*.json / config name, or "
                                      "--export with an export folder")


def cmd_build(args):
    """FPGA/ASIC build folders (gated on an equivalence certificate) or a yosys estimate."""
    hw = _build_hw(args)
    if args.flow in ("fpga", "vivado"):
        from .flows.fpga_flow import build_fpga
        info = build_fpga(hw, args.board, args.out, args.cert, args.force, export_dir=args.export,
                          clock_mhz=args.clock_mhz)
        print(f"fpga build for {info['board']} ({info['part']}), {info['clock_mhz']:g} MHz, "
              f"certificate: {info['certificate']['status']}")
        print(info["paths"]["vivado_flow.tcl"])
    elif args.flow == "asic":
        from .flows.asic_flow import build_asic
        info = build_asic(hw, args.out, args.cert, args.force, sram_words=args.sram_words,
                          sram_bits=args.sram_bits)
        print(f"asic build, certificate: {info['certificate']['status']}, "
              f"{info['sram']['macros_total']} SRAM macros")
        for path in info["paths"].values():
            print(path)
    else:
        return _synth(hw, "generic", None, args.out)
    return 0


def _synth(hw, family, board, out):
    from .flows.boards import board as board_of
    from .flows.synth_estimate import synth_estimate, utilisation_table
    cap = None
    if board:
        b = board_of(board)
        cap = b.capacity
        family = family or b.family
    r = synth_estimate(hw, out, family or "xcup")
    print(f"yosys {r['target']}: {hw.ROWS}x{hw.COLS} engine, {r['cells_total']} cells")
    print(utilisation_table(r, cap))
    print(os.path.join(out, "synth.json"))
    return 0


def cmd_synth(args):
    """Resource estimate of the engine with yosys (Xilinx LUT/FF/DSP/BRAM or generic cells)."""
    return _synth(_build_hw(args), args.family, args.board, args.out)


def main(argv=None):
    ap = _Parser(prog="dsf", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("export", help="export a model's engine inputs and expected vectors")
    p.add_argument("model")
    p.add_argument("--out", type=_folder, default="vectors")
    p.add_argument("--hw", help="hardware.json (default: the model file's own)")
    p.add_argument("--post", default="auto", choices=["auto", "off", "on"],
                   help="on-chip post-processing (architecture §17): auto = every bundle the "
                        "output pipeline finishes exactly, off = raw sums, on = auto or error")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("import", help="map a trained QKeras model (.h5 / .keras) onto bundles "
                                      "and export it")
    p.add_argument("model")
    p.add_argument("--hw", required=True, help="hardware.json / configs/*.json / a config name")
    p.add_argument("--out", type=_folder, default=None, help="export folder (default: the hardware's data_dir)")
    p.add_argument("--batch", type=_int_at_least(1), default=1)
    p.add_argument("--verify", choices=["model", "verilator"], default=None)
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.set_defaults(fn=cmd_import)
    p = sub.add_parser("verify", help="run a model on a simulator, check every level bit-exactly")
    p.add_argument("model")
    p.add_argument("--sim", default="verilator", choices=["verilator", "model"])
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--out", type=_folder, default=None)
    p.add_argument("--hw")
    p.add_argument("--valid-prob", type=_probability, default=None)
    p.add_argument("--ready-prob", type=_probability, default=None)
    p.add_argument("--twin", default="fast", choices=["fast", "cycle"],
                   help="with --sim model: the job-level fast path (default) or every value "
                        "cycle by cycle; same cycles and bytes (architecture §20)")
    p.set_defaults(fn=cmd_verify)
    p = sub.add_parser("lockstep", help="RTL vs cycle model, every port every cycle; writes an "
                       "equivalence certificate on success")
    p.add_argument("model")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--window", type=_int_at_least(1), default=16, help="cycles shown / dumped before a divergence")
    p.add_argument("--hw")
    p.add_argument("--out", type=_folder, default=None, help="export + VCD directory (default: a temp dir)")
    p.add_argument("--cert", default=None, help="certificate path (default: build/certificates/)")
    p.add_argument("--valid-prob", type=_probability, default=None)
    p.add_argument("--ready-prob", type=_probability, default=None)
    p.set_defaults(fn=cmd_lockstep)
    p = sub.add_parser("info", help="versions of the tools dsf_sim uses")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_info)
    p = sub.add_parser("sweep", help="design-space sweep on Dask: networks x hardware x DRAM, "
                                     "cached and resumable, Parquet table + Pareto plots")
    p.add_argument("spec", help="sweep YAML (docs/architecture.md §23)")
    p.add_argument("--out", type=_folder, default="sweep_out")
    p.add_argument("--scheduler", default=None,
                   help="tcp://HOST:PORT of a running Dask scheduler (default: an embedded "
                        "LocalCluster)")
    p.add_argument("--workers", type=_int_at_least(1), default=None,
                   help="LocalCluster worker processes (default: the spec's, else CPUs, <= 4)")
    p.add_argument("--connect-timeout", type=_positive, default=10.0,
                   help="seconds to wait for --scheduler before a named error")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(fn=cmd_sweep)
    from .models.soc_model import CPU_PRESETS, DRAM_PRESETS
    p = sub.add_parser("bench", help="per-layer performance from the cycle model (+ SoC/DRAM model)")
    p.add_argument("network", help="alexnet | vgg16 | resnet50 | MODEL.py")
    p.add_argument("--hw", default="configs/kraken.json")
    p.add_argument("--dram", default="ideal", choices=sorted(DRAM_PRESETS))
    p.add_argument("--cpu", default=None, choices=sorted(CPU_PRESETS),
                   help="firmware CPU model (default: none for ideal DRAM, else a53)")
    p.add_argument("--bits", type=int, choices=[4, 8, 16], default=None)
    p.add_argument("--input-size", type=_int_at_least(1), default=None)
    p.add_argument("--out", type=_folder, default=None)
    p.add_argument("--exact", action="store_true", help="simulate every job (slower)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--post", default="both", choices=["both", "auto", "off"],
                   help="on-chip post-processing: auto (as the export decides), off (all raw), "
                        "both (auto with off beside it; default)")
    p.set_defaults(fn=cmd_bench)
    p = sub.add_parser("build", help="FPGA (Vivado block design, bitstream, XSA, Vitis app) or "
                                     "ASIC (Genus/Innovus) build folder; needs an equivalence "
                                     "certificate from `dsf lockstep` or --force")
    p.add_argument("flow", choices=["fpga", "asic", "vivado", "yosys"],
                   help="vivado = fpga; yosys = `dsf synth --family generic`")
    p.add_argument("--hw", default=None, help="hardware.json / configs/*.json (default: the "
                                              "export's)")
    p.add_argument("--export", default=None, help="an export folder: its model goes into the "
                                                  "bare-metal application (fpga)")
    p.add_argument("--out", type=_folder, default="build_flow")
    p.add_argument("--board", default="zcu104")
    p.add_argument("--clock-mhz", type=_positive, default=None,
                   help="PL clock (default: the hardware's frequency_mhz)")
    p.add_argument("--sram-words", type=_int_at_least(1), default=None, help="ASIC SRAM macro depth")
    p.add_argument("--sram-bits", type=_int_at_least(1), default=None, help="ASIC SRAM macro width")
    p.add_argument("--cert", default=None, help="certificate path (default: build/certificates/)")
    p.add_argument("--force", action="store_true",
                   help="build without a matching certificate (printed loudly, recorded in "
                        "BUILD_INFO.json)")
    p.set_defaults(fn=cmd_build)
    p = sub.add_parser("synth", help="yosys resource estimate: Xilinx LUT/FF/DSP/BRAM "
                                     "(synth_xilinx) or generic cells")
    p.add_argument("--hw", required=True, help="hardware.json / configs/*.json / a config name")
    p.add_argument("--family", default=None,
                   choices=["xcup", "xcu", "xc7", "generic", "xczu", "xck26", "xc7z"],
                   help="yosys synth_xilinx family (xczu / xck26 = xcup, xc7z = xc7) or generic "
                        "cells; default: the board's, else xcup")
    p.add_argument("--board", default=None, help="print utilisation against this board")
    p.add_argument("--out", type=_folder, default="synth_out")
    p.set_defaults(fn=cmd_synth, export=None)
    p = sub.add_parser("fuzz", help="constrained-random campaign: random hardware x random "
                                    "models x handshakes, checked against QKeras, the reference "
                                    "and (every K-th) the RTL")
    p.add_argument("--cases", type=_int_at_least(1), default=100)
    p.add_argument("--rtl-every", type=_int_at_least(0), default=0,
                   help="check every K-th case on the RTL too (0: never)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--out", type=_folder, default="fuzz_out")
    p.set_defaults(fn=cmd_fuzz)
    p = sub.add_parser("profile", help="fps vs DRAM bandwidth, where layers turn memory-bound")
    p.add_argument("network")
    p.add_argument("--hw", default="configs/kraken.json")
    p.add_argument("--bw", type=_bandwidths, default="1,2,4,8,16,32", help="GB/s, comma separated")
    from .models.dram_banks import BANK_PRESETS
    p.add_argument("--dram", default="ddr4-2400", choices=sorted(BANK_PRESETS),
                   help="the DRAM part of the per-layer stall profile")
    p.add_argument("--dram-model", default="bank", choices=["bank", "transaction"],
                   help="bank-level (default) or transaction-level DRAM for the stall profile")
    p.add_argument("--cpu", default="none", choices=sorted(CPU_PRESETS))
    p.add_argument("--bits", type=int, choices=[4, 8, 16], default=None)
    p.add_argument("--input-size", type=_int_at_least(1), default=None)
    p.add_argument("--out", type=_folder, default="bench_out")
    p.add_argument("--exact", type=_layer_names, default=[], metavar="LAYER[,LAYER]",
                   help="also run these layers (names or indices) on the twin with valid/ready "
                        "from the DMA/DRAM model at cycle level, and report the SoC model's "
                        "error on them")
    p.set_defaults(fn=cmd_profile)
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except ValueError as e:  # our errors are ValueErrors with a full message
        print(f"dsf: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:     # a path the user gave: a folder for a file, a file for a folder, ...
        where = e.filename if e.filename is not None else ""
        print(f"dsf: error: {where!r}: {e.strerror or e}" if where else f"dsf: error: {e}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
