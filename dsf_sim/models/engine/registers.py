"""Every register of the twin, in one list: the engine modules' registers with the RTL's names,
plus the harness's (cycle counter, watchdog, PRNG, output log).

From `REGISTERS` come the layout of the state vector `S` (int64, one slot per register), the
reset values, one namedtuple class per module (the cycle loop carries a module's registers as one
value, so numba keeps them in machine registers) and the `index(module, name)` used by the
lockstep signal table. Memories (slots, weight banks, accumulators, packet FIFO) are arrays of
`EngineState`, listed in `MEMORIES` with their shapes.
"""
from __future__ import annotations

from collections import namedtuple

# (module, register, reset value). Module names are the RTL instance's module without "dsf_".
REGISTERS = (
    # harness (rtl/tb/tb_engine.cpp / tb_system.sv): not engine registers
    ("harness", "cycle", 0), ("harness", "last_act", 0), ("harness", "nlog", 0),
    ("harness", "ntlast", 0),
    ("harness", "jumped", 0),   # cycles taken in steady-stretch jumps (stretch.py), a statistic
    ("prng", "s0", 0), ("prng", "s1", 0), ("prng", "s2", 0), ("prng", "s3", 0),
    # rtl/dsf_pixel_streamer.sv (full: one bit per slot)
    ("pixel_streamer", "fill", 0), ("pixel_streamer", "rd", 0), ("pixel_streamer", "full", 0),
    ("pixel_streamer", "hdr_mode", 1), ("pixel_streamer", "beat", 0),
    ("pixel_streamer", "pb_m1", 0), ("pixel_streamer", "ci", 0), ("pixel_streamer", "w", 0),
    ("pixel_streamer", "l", 0), ("pixel_streamer", "n", 0), ("pixel_streamer", "cm_m1", 0),
    ("pixel_streamer", "xw_m1", 0), ("pixel_streamer", "xl_m1", 0),
    ("pixel_streamer", "xn_m1", 0), ("pixel_streamer", "pk_m1", 0),
    # rtl/dsf_weight_loader.sv (full: one bit per bank)
    ("weight_loader", "wr_bank", 0), ("weight_loader", "rd_bank", 0),
    ("weight_loader", "full", 0), ("weight_loader", "hdr_mode", 1),
    ("weight_loader", "wrows_m1", 0), ("weight_loader", "row", 0), ("weight_loader", "beat", 0),
    # ... its output-pipeline configuration sets (architecture §17.3; cfg_full: one bit per set)
    ("weight_loader", "cfg_mode", 0), ("weight_loader", "cbeat", 0),
    ("weight_loader", "cfg_wr", 0), ("weight_loader", "cfg_free", 0),
    ("weight_loader", "cfg_full", 0),
    # rtl/dsf_sequencer.sv: stage 0 state and the stage-1 operation registers
    ("sequencer", "st", 0), ("sequencer", "kh2", 0), ("sequencer", "kw2", 0),
    ("sequencer", "cm_m1", 0), ("sequencer", "xw_m1", 0), ("sequencer", "xl_m1", 0),
    ("sequencer", "xn_m1", 0), ("sequencer", "xs", 0), ("sequencer", "kh", 0),
    ("sequencer", "ci", 0), ("sequencer", "addr", 0), ("sequencer", "w", 0),
    ("sequencer", "l", 0), ("sequencer", "n", 0), ("sequencer", "f", 0),
    ("sequencer", "s1_clear", 0), ("sequencer", "s1_mac", 0), ("sequencer", "s1_shift", 0),
    ("sequencer", "s1_emit", 0), ("sequencer", "s1_last", 0), ("sequencer", "s1_kw2", 0),
    ("sequencer", "fin", 0), ("sequencer", "cfg", 0), ("sequencer", "cfg_nx", 0),
    ("sequencer", "s1_fin", 0), ("sequencer", "s1_cfg", 0),
    # ... the column inside its pixel slot (architecture §3, §7.3)
    ("sequencer", "sub", 0), ("sequencer", "xo", 0), ("sequencer", "pk_m1", 0),
    ("sequencer", "pr", 0),
    # rtl/dsf_output.sv (dr_off: the twin's index of the drain register's current beat, where
    # the RTL shifts the register right by AXI_WIDTH per beat)
    ("output", "wp", 0), ("output", "rp", 0), ("output", "cnt", 0), ("output", "dr_v", 0),
    ("output", "dr_off", 0), ("output", "dr_cnt", 0), ("output", "dr_keep", 0),
    ("output", "dr_last", 0),
    # ... the finish packet in the drain and the two-beat skip FIFO (architecture §17.3)
    ("output", "dr_fin", 0), ("output", "dr_cfg", 0), ("output", "dr_kw2", 0),
    ("output", "sk_cnt", 0), ("output", "sk_rp", 0), ("output", "sk_wp", 0),
)

# module -> ((memory, shape as a function of the hardware parameters, dtype), ...)
MEMORIES = {
    "pixel_streamer": (("slot", lambda h: (2, h.PB_MAX * h.AXI_BYTES), "uint8"),),
    "weight_loader": (("rowbuf", lambda h: (h.WB * h.AXI_BYTES,), "uint8"),
                      ("banks", lambda h: (2, h.RAM_WEIGHTS_DEPTH, h.COLS), "int64"),
                      ("rdata", lambda h: (h.COLS,), "int64"),
                      ("cfgset", lambda h: (2, (h.POST_BEATS + h.BIAS_BEATS) * h.AXI_BYTES),
                       "uint8")),
    "sequencer": (("s1_x", lambda h: (h.ROWS,), "int64"),),
    "pe_array": (("acc", lambda h: (h.ROWS, h.COLS), "int64"),),
    "output": (("q_d", lambda h: (h.NPK, h.OB_MAX * h.AXI_BYTES), "uint8"),
               ("q_ob", lambda h: (h.NPK,), "int64"), ("q_keep", lambda h: (h.NPK,), "int64"),
               ("q_last", lambda h: (h.NPK,), "int64"),
               ("dr", lambda h: (h.OB_MAX * h.AXI_BYTES,), "uint8"),
               ("q_fin", lambda h: (h.NPK,), "int64"), ("q_cfg", lambda h: (h.NPK,), "int64"),
               ("q_kw2", lambda h: (h.NPK,), "int64"),
               ("skbuf", lambda h: (2, h.AXI_BYTES), "uint8"),
               ("beat", lambda h: (h.AXI_BYTES,), "uint8")),
}

N_STATE = len(REGISTERS)
_INDEX = {(m, r): i for i, (m, r, _) in enumerate(REGISTERS)}


def index(module: str, name: str) -> int:
    """Slot of register `module.name` in the state vector."""
    try:
        return _INDEX[(module, name)]
    except KeyError:
        raise KeyError(f"twin register {module}.{name} does not exist (models/engine/"
                       f"registers.py)") from None


def reset_values():
    return [v for _, _, v in REGISTERS]


def _module(module: str):
    names = [r for m, r, _ in REGISTERS if m == module]
    first = index(module, names[0])
    assert all(index(module, n) == first + k for k, n in enumerate(names)), "module not contiguous"
    return namedtuple(module.title().replace("_", "") + "Regs", names), first, len(names)


# per module: namedtuple class, first slot in S, number of registers
Harness, HARNESS0, N_HARNESS = _module("harness")
Prng, PRNG0, N_PRNG = _module("prng")
PixelStreamer, PIXEL_STREAMER0, N_PIXEL_STREAMER = _module("pixel_streamer")
WeightLoader, WEIGHT_LOADER0, N_WEIGHT_LOADER = _module("weight_loader")
Sequencer, SEQUENCER0, N_SEQUENCER = _module("sequencer")
Output, OUTPUT0, N_OUTPUT = _module("output")
