"""Instructions per element of the firmware's integer functions on AArch64, counted under
qemu-aarch64 (the A53's instruction set; Debian's qemu-user, single-step with exec logging):
the firmware's own dsf_requant / dsf_igelu / dsf_isoftmax / dsf_ilayernorm and its table loops
(benchmarks/cpu_cost_harness.c), cross-compiled -O2 like the board build.

Each op runs on N1 and N2 elements; (count(N2) - count(N1)) / (N2 - N1), less the data loop
("fill"), is its cost per element. Divisions (sdiv/udiv, whose latency an instruction count does
not show) are counted from the executed PCs. A53 cycles are estimated as instructions / IPC +
divisions x DIV_CYCLES (both assumptions, written in the output) and compared with the SoC
model's CPU_PRESETS['a53']. Writes benchmarks/results/cpu_costs.json.
Usage: .venv/bin/python benchmarks/cpu_costs.py
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


def main():
    from dsf_sim.models.soc_model import CPU_PRESETS
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
