"""Open resource estimates with yosys: Xilinx LUT/FF/DSP/BRAM (`synth_xilinx`) or generic cells.

Why here and not in Vivado: sweeps need a resource figure for every configuration on a machine
without vendor tools. The figures are yosys' mapping, not Vivado's (yosys packs less, e.g. one
DSP per multiplier); benchmarks/README.md puts them beside the board capacities.

Yosys 0.23's `share` pass does not finish on the output pipeline's lanes, so both flows run the
stock script with that one pass left out (`synth -noshare`; for synth_xilinx its `coarse` step
is spelled out without `share`).
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess

from ..compiler.rtl_config import rtl_sources
from ..errors import DsfError, HardwareError
from .certificate import RTL_DIR

FAMILIES = ("xcup", "xcu", "xc7")     # synth_xilinx families dsf_sim reports
TARGETS = ("generic",) + FAMILIES
# device-name prefixes users type for a family (Zynq UltraScale+ parts are xczu* / xck26)
ALIASES = {"xczu": "xcup", "xck26": "xcup", "zynqmp": "xcup", "xc7z": "xc7", "zynq7": "xc7"}

# LUTs a LUT-RAM / shift-register primitive occupies (UG574 / UG474 primitive tables)
LUTRAM_LUTS = {"RAM32M16": 8, "RAM64M8": 8, "RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2,
               "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8, "RAM32X1S": 1, "RAM64X1S": 1,
               "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8, "SRL16E": 1, "SRLC32E": 1,
               "SRLC16E": 1}


class SynthError(DsfError):
    """yosys is missing, failed, printed no statistics, or misread the RTL (misread_warnings)."""


def _script(target, srcs, out_dir) -> str:
    read = f"read_verilog -sv -I{out_dir} -I{RTL_DIR} {' '.join(srcs)}; "
    stat = "tee -q -o yosys_stat.txt stat"
    if target == "generic":
        return read + "synth -top dsf_engine -flatten -noshare; " + stat
    opts = f"-family {target} -top dsf_engine -flatten -noiopad -noclkbuf"
    coarse = ("techmap -map +/cmp2lut.v -map +/cmp2lcu.v -D LUT_WIDTH=6; alumacc; opt; "
              "memory -nomap; opt_clean; ")
    return (read + f"synth_xilinx {opts} -run begin:coarse; " + coarse +
            f"synth_xilinx {opts} -run map_memory:; " + stat)


def xilinx_resources(cells: dict) -> dict:
    """LUT (logic + memory), FF, DSP, BRAM36 (a BRAM18 counts half), URAM, CARRY from the
    primitive counts of a synth_xilinx netlist."""
    lut_logic = sum(n for c, n in cells.items() if re.fullmatch(r"LUT[1-6]", c))
    lut_mem = sum(LUTRAM_LUTS[c] * n for c, n in cells.items() if c in LUTRAM_LUTS)
    ff = sum(n for c, n in cells.items() if re.fullmatch(r"FD[CPRS]E?", c))
    dsp = sum(n for c, n in cells.items() if c.startswith("DSP48"))
    bram36 = sum(n for c, n in cells.items() if c.startswith("RAMB36"))
    bram18 = sum(n for c, n in cells.items() if c.startswith("RAMB18"))
    return dict(LUT=lut_logic + lut_mem, LUT_logic=lut_logic, LUT_memory=lut_mem, FF=ff,
                DSP=dsp, BRAM36=bram36 + bram18 / 2, URAM=cells.get("URAM288", 0),
                CARRY=sum(n for c, n in cells.items() if c.startswith("CARRY")))


# yosys warnings that mean it did not read the RTL as written (an identifier it declared
# implicitly, a select it replaced by undefined bits): the logic behind them is silently removed
MISREAD = ("implicitly declared", "out of bounds", "to undef")


def misread_warnings(log: str) -> list:
    """The lines of a yosys log that say it misread the RTL (MISREAD)."""
    return [ln.strip() for ln in log.splitlines()
            if "Warning" in ln and any(k in ln for k in MISREAD)]


def synth_estimate(hw, out_dir, target="xcup", timeout=3600) -> dict:
    """yosys on the configured engine. Returns {target, cells_total, cells, resources (Xilinx
    targets), stat}; writes synth.json into out_dir."""
    target = ALIASES.get(target, target)
    if target not in TARGETS:
        raise HardwareError("family", target, f"one of {list(TARGETS) + sorted(ALIASES)}")
    if not shutil.which("yosys"):
        raise SynthError("yosys = not found is invalid: allowed an installed yosys "
                         "(scripts/setup.sh installs it)")
    os.makedirs(out_dir, exist_ok=True)
    for name, text in rtl_sources(hw).items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)
    srcs = [os.path.join(out_dir, "dsf_cfg.sv")] + sorted(glob.glob(os.path.join(RTL_DIR, "*.sv")))
    try:
        r = subprocess.run(["yosys", "-q", "-p", _script(target, srcs, out_dir)],
                           capture_output=True, text=True, timeout=timeout, cwd=out_dir)
    except subprocess.TimeoutExpired:
        raise SynthError(f"yosys ({target}) did not finish in timeout = {timeout} s") from None
    if r.returncode != 0:
        raise SynthError(f"yosys ({target}) failed: {(r.stderr or r.stdout)[-2000:]}")
    misread = misread_warnings(r.stdout + r.stderr)
    if misread:
        raise SynthError(f"yosys ({target}) misread the RTL, its netlist would not be the "
                         f"engine: {misread[0]} ({len(misread)} such warnings)")
    with open(os.path.join(out_dir, "yosys_stat.txt")) as f:
        stat = f.read()
    total = re.search(r"Number of cells:\s+(\d+)", stat)
    if not total:
        raise SynthError(f"yosys stat has no cell count: {stat[-1000:]}")
    cells = {m.group(1): int(m.group(2))
             for m in re.finditer(r"^\s+(\$?[A-Za-z_][\w$]*)\s+(\d+)\s*$", stat, re.M)}
    res = dict(target=target, engine=dict(rows=hw.ROWS, cols=hw.COLS, axi_width=hw.axi_width,
                                          bits_input=hw.bits_input, bits_weights=hw.bits_weights),
               cells_total=int(total.group(1)), cells=cells)
    if target != "generic":
        res["resources"] = xilinx_resources(cells)
    with open(os.path.join(out_dir, "synth.json"), "w") as f:
        json.dump(res, f, indent=1)
    return dict(res, stat=stat)


def utilisation_table(res: dict, capacity: dict | None = None) -> str:
    """A readable table: resource, used, and (with a board's capacity) available and %."""
    if "resources" not in res:
        return f"yosys generic cells: {res['cells_total']}"
    rows = [("resource", "used") + (("available", "util %") if capacity else ())]
    for k in ("LUT", "LUT_logic", "LUT_memory", "FF", "DSP", "BRAM36", "URAM", "CARRY"):
        v = res["resources"][k]
        row = (k, f"{v:g}")
        if capacity:
            cap = capacity.get(k)
            row += (f"{cap}", f"{100 * v / cap:.1f}") if cap else ("-", "-")
        rows.append(row)
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r))
                     for r in rows)
