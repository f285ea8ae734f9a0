"""Instructions per element of the firmware's integer functions on AArch64, counted under
qemu-aarch64 (the A53's instruction set; Debian's qemu-user, single-step with exec logging):
the firmware's own dsf_requant / dsf_igelu / dsf_isoftmax / dsf_ilayernorm and its table loops
(benchmarks/cpu_cost_harness.c), cross-compiled -O2 like the board build.

Each op runs on N1 and N2 elements; (count(N2) - count(N1)) / (N2 - N1), less the data loop
("fill"), is its cost per element. Divisions (sdiv/udiv, whose latency an instruction count does
not show) are counted from the executed PCs. A53 cycles are estimated as instructions / IPC +
divisions x DIV_CYCLES (both assumptions, written in the output) and compared with the SoC
model's CPU_PRESETS['a53']. Writes benchmarks/results/cpu_costs.json.

The per-layer post-processing (issue 16) is measured the same way on a real frame: ResNet-50 at
a small input on the Kraken configuration is exported, the twin's DMA stream recorded, and
benchmarks/cpu_routine_harness.c replays the whole firmware against it before running one
routine (post_raw, pool_store, unpack_finished, pack_bundle_input, pack_skip, accumulate) on one
bundle again; instructions per call / the SoC model's element count of that bundle are the
per-element costs of CPU_PRESETS['a53'] (requant, add, pool, unpack, pack, skip_pack, acc).
Usage: .venv/bin/python benchmarks/cpu_costs.py [--routines-only [--post off]]
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OPS = ("requant", "gelu", "softmax", "layernorm", "gelu_table", "softmax_table",
       "layernorm_table")
N1, N2 = 1024, 3072
ROUTINE_KEYS = ("requant", "pool", "unpack", "pack", "acc")
IPC = 1.0            # assumption: an in-order dual-issue A53 on dependent integer code
DIV_CYCLES = 16      # assumption: extra cycles of a 64-bit sdiv/udiv on the A53


def _firmware_config(tmp):
    """Any export's config_fw.h / dsf_cfg.h (dsf_fw.c needs one; the functions do not)."""
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from zoo import _dense, q, small_hw
    from dsf_sim import Bundle, QInput, QModel
    hw = small_hw(bits=4, data_dir=tmp)
    x = x_in = QInput((8,), batch_size=1, hw=hw)
    x = Bundle(core=_dense(4, q(hw)["sbits"], hw))(x)
    QModel(inputs=x_in.raw, outputs=x).export_inference(hw=hw, out_dir=tmp, check=False)


def _count(exe, op, n, div_pcs):
    log = exe + f".{op}.{n}.log"
    subprocess.run(["qemu-aarch64", "-singlestep", "-d", "nochain,exec", "-D", log, exe, op,
                    str(n)], check=True, capture_output=True)
    insns = divs = 0
    pat = re.compile(r"\[[0-9a-f]+/([0-9a-f]+)/")
    with open(log) as f:
        for line in f:
            m = pat.search(line)
            if m:
                insns += 1
                divs += int(m.group(1), 16) in div_pcs
    os.remove(log)
    return insns, divs


def measure(n1=N1, n2=N2, progress=True) -> dict:
    """{op: (instructions, divisions) per element} of every op, less the data loop."""
    from tqdm import tqdm
    if not shutil.which("qemu-aarch64") or not shutil.which("aarch64-linux-gnu-gcc"):
        raise SystemExit("cpu_costs: needs qemu-aarch64 and aarch64-linux-gnu-gcc "
                         "(scripts/setup.sh installs them)")
    tmp = tempfile.mkdtemp(prefix="dsf_cpu_")
    _firmware_config(tmp)
    exe = os.path.join(tmp, "harness")
    subprocess.run(["aarch64-linux-gnu-gcc", "-O2", "-std=c99", "-static", f"-I{tmp}",
                    f"-I{os.path.join(ROOT, 'firmware')}", os.path.join(HERE, "cpu_cost_harness.c"),
                    os.path.join(ROOT, "firmware", "dsf_fw.c"), "-lm", "-o", exe], check=True)
    dis = subprocess.run(["aarch64-linux-gnu-objdump", "-d", exe], check=True,
                         capture_output=True, text=True).stdout
    div_pcs = {int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\s+[0-9a-f]{8}\s+"
                                                         r"[su]div\b", dis, re.M)}
    per = {}
    for op in tqdm(("fill",) + OPS, desc="qemu-aarch64", unit="op", disable=not progress):
        (i1, d1), (i2, d2) = _count(exe, op, n1, div_pcs), _count(exe, op, n2, div_pcs)
        per[op] = ((i2 - i1) / (n2 - n1), (d2 - d1) / (n2 - n1))
    shutil.rmtree(tmp, ignore_errors=True)
    fill = per.pop("fill")
    return {op: (i - fill[0], d - fill[1]) for op, (i, d) in per.items()}


def _marked_counts(exe, args, mark_pc):
    """Instructions qemu-aarch64 executes between consecutive calls of dsf_cost_mark (the
    single-step exec log streamed through a pipe, never stored)."""
    key = f"/{mark_pc:016x}/".encode()
    p = subprocess.Popen(["qemu-aarch64", "-singlestep", "-d", "nochain,exec", "-D",
                          "/dev/stdout", exe] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    counts, lines, tail = [], 0, b""
    while True:
        chunk = p.stdout.read(1 << 22)
        if not chunk:
            break
        buf = tail + chunk
        cut = buf.rfind(b"\n") + 1          # whole lines only; the rest waits for the next chunk
        body, tail = buf[:cut], buf[cut:]
        pos = 0
        while True:
            k = body.find(key, pos)
            if k < 0:
                break
            lines += body.count(b"\n", pos, k)
            counts.append(lines)            # lines since the previous mark
            pos = body.find(b"\n", k) + 1
            lines = 1
        lines += body.count(b"\n", pos)
    err = p.stderr.read().decode()
    if p.wait() != 0:
        raise SystemExit(f"cpu_costs: {exe} {' '.join(args[:5])} failed: {err[-500:]}")
    return counts[1:]       # counts[0] is everything before the first mark (the replay)


def routine_jobs(layers):
    """[(SoC-model key, harness op, bundle, elements the SoC model charges the key for)]: every
    bundle where the firmware runs that routine on this network."""
    out = []
    for b, lp in enumerate(layers):
        fin = getattr(lp, "finish", False)
        if not fin:
            out.append(("add" if lp.has_add else "requant", "post_raw", b, lp.core_elems))
            out.append(("pool" if lp.pool_window > 1 else "store", "pool_store", b, lp.core_elems))
            if lp.CP > 1:
                out.append(("acc", "accumulate", b, lp.job_bytes[0][2] // 4))
        elif getattr(lp, "out_int", True):
            out.append(("unpack", "unpack", b, lp.core_elems))
            out.append(("pool" if lp.pool_window > 1 else "store", "pool_store", b, lp.core_elems))
        if b > 0 and getattr(lp, "pack_elems", 0):
            out.append(("pack", "pack", b, lp.pack_elems))
        if fin and lp.has_add and not lp.skip_direct:
            out.append(("skip_pack", "skip_pack", b, lp.core_elems))
    return out


def measure_routines(input_size=32, reps=2, progress=True, post="auto") -> dict:
    """{key: instructions per element} of the per-layer routines on ResNet-50 (Kraken, 4-bit)
    at `input_size`, element-weighted over every bundle that runs them, and the rows. post:
    the export's on-chip post-processing ('off': every bundle raw, so the firmware's residual
    add runs and is measured)."""
    from dsf_sim.api.networks import build
    from dsf_sim.compiler.hardware import Hardware
    from dsf_sim.models.twin_hal import TwinHal
    from dsf_sim.perf import bench as B
    from dsf_sim.runtime.board_driver import Accelerator
    from dsf_sim.runtime.fw_driver import export_headers
    from dsf_sim.runtime.replay import RecordingHal
    tmp = tempfile.mkdtemp(prefix="dsf_cpu_r_")
    d = Hardware.from_json(os.path.join(ROOT, "configs", "kraken.json")).to_dict()
    d["data_dir"] = tmp
    hw = Hardware.from_dict(d)
    model = build("resnet50", hw, bits=hw.X_BITS, input_size=input_size)
    model.export_inference(x=model.random_input, hw=hw, out_dir=tmp, check=False, post=post)
    rec_path = os.path.join(tmp, "rec.bin")
    rec = RecordingHal(TwinHal(hw), rec_path)
    Accelerator(tmp, rec).run()
    rec.close()
    exe = os.path.join(tmp, "routines")
    subprocess.run(["aarch64-linux-gnu-gcc", "-std=c99", "-O2", "-static",
                    f"-I{os.path.dirname(export_headers(tmp)[0])}",
                    f"-I{os.path.join(ROOT, 'firmware')}",
                    os.path.join(HERE, "cpu_routine_harness.c"),
                    os.path.join(ROOT, "firmware", "dsf_fw_hal.c"), "-lm", "-o", exe], check=True)
    files = [os.path.join(tmp, f) for f in ("weights.bin", "input.bin")] + [
        rec_path, os.path.join(tmp, "y.bin")]
    layers = B.layer_list(model, hw, post)
    B.simulate(layers, hw)          # the per-job stream bytes (accumulate's element count)
    jobs = routine_jobs(layers)
    nm = subprocess.run(["aarch64-linux-gnu-nm", exe], check=True, capture_output=True,
                        text=True).stdout
    mark_pc = int(next(ln.split()[0] for ln in nm.splitlines()
                       if ln.endswith(" dsf_cost_mark")), 16)
    if progress:
        print(f"qemu-aarch64: the firmware replays a {input_size}x{input_size} ResNet-50 frame, "
              f"then {len(jobs)} routine runs x {reps} (a few minutes)")
    counts = _marked_counts(exe, files + [str(reps), "none:0"]
                            + [f"{op}:{b}" for _, op, b, _ in jobs], mark_pc)
    if len(counts) != len(jobs) + 1:
        raise SystemExit(f"cpu_costs: {len(counts)} marked spans for {len(jobs) + 1} ops")
    mark = counts[0]
    rows, tot = [], {}
    for (key, op, b, n), c in zip(jobs, counts[1:]):
        ins = (c - mark) / reps
        rows.append(dict(key=key, op=op, bundle=b, name=layers[b].name, elements=int(n),
                         instructions=round(ins), per_element=round(ins / max(n, 1), 2)))
        i, e = tot.get(key, (0, 0))
        tot[key] = (i + ins, e + n)
    shutil.rmtree(tmp, ignore_errors=True)
    per = {k: i / e for k, (i, e) in tot.items() if e}
    # post_raw with an add = requant + add; pool_store without a pool is the int32 copy
    if "add" in per and "requant" in per:
        per["add"] = max(0.0, per["add"] - per["requant"])
    return dict(per_element=per, rows=rows, input_size=input_size, post=post)


def main():
    import sys
    from dsf_sim.models.soc_model import CPU_PRESETS
    if "--routines-only" in sys.argv:
        post = sys.argv[sys.argv.index("--post") + 1] if "--post" in sys.argv else "auto"
        r = measure_routines(post=post)
        r.update(target="aarch64 (-O2, static), qemu-aarch64 single-step instruction count, "
                        "ResNet-50 (Kraken 7x96, 4-bit) firmware replay", ipc_assumed=IPC,
                 cpu_preset_a53_measured={k: CPU_PRESETS["a53-measured"][k]
                                          for k in ROUTINE_KEYS},
                 cpu_preset_a53_assumed={k: CPU_PRESETS["a53"][k] for k in ROUTINE_KEYS})
        path = os.path.join(HERE, "results", "cpu_routines.json" if post == "auto"
                            else f"cpu_routines_post_{post}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(r, f, indent=1)
        os.replace(path + ".tmp", path)
        for k, v in sorted(r["per_element"].items()):
            print(f"{k:<10} {v:>8.1f} instructions/element  (a53-measured preset "
                  f"{CPU_PRESETS['a53-measured'].get(k, '-')}, a53 assumed "
                  f"{CPU_PRESETS['a53'].get(k, '-')})")
        print(f"wrote {path}")
        return
    per = measure()
    a53 = CPU_PRESETS["a53"]
    rows = []
    for op in OPS:
        ins, dv = per[op]
        cyc = ins / IPC + dv * DIV_CYCLES
        rows.append({"op": op, "instructions_per_element": round(ins, 2),
                     "divisions_per_element": round(dv, 3),
                     "a53_cycles_estimate": round(cyc, 1)})
    out = {"target": "aarch64 (-O2, static), qemu-aarch64 single-step instruction count",
           "n": [N1, N2], "ipc_assumed": IPC, "div_cycles_assumed": DIV_CYCLES, "rows": rows,
           "cpu_preset_a53": {k: a53[k] for k in ("requant", "softmax", "gelu", "layernorm",
                                                  "gelu_lut", "softmax_lut", "layernorm_lut",
                                                  "div")}}
    path = os.path.join(HERE, "results", "cpu_costs.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(path + ".tmp", path)
    for r in rows:
        print(f"{r['op']:<14} {r['instructions_per_element']:>8.1f} insn "
              f"{r['divisions_per_element']:>6.2f} div -> ~{r['a53_cycles_estimate']:>7.1f} "
              f"A53 cycles/element")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
