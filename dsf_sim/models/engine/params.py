"""What the twin's compiled cycle loop knows about the hardware: one int64 parameter vector and
the per-job tables, both built from `Hardware` (no formula is repeated here).

`P_*` index the parameter vector; `F_*` (generated from `hardware.HEADER_FIELDS`) index the header
field offset/width tables; `T_*` index the tuple of tables passed to the loop.
"""
from __future__ import annotations

import numpy as np

from ...compiler.geometry import beat_tables
from ...compiler.hardware import HEADER_FIELDS, POST_FIELDS

# parameter vector: hardware values, then run options
PARAMS = ("ROWS", "COLS", "X_BITS", "K_BITS", "Y_BITS", "Y_OUT_BITS", "AXI_BYTES",
          "RAM_WEIGHTS_DEPTH", "WB", "NPK", "W_CM_M1", "W_XN_M1", "B_BITS", "LANES",
          "POST_BEATS", "BIAS_BEATS", "PIPE_BITS",
          "WATCHDOG", "TIMING_ONLY", "MUTATION", "STRETCH")
(P_ROWS, P_COLS, P_X_BITS, P_K_BITS, P_Y_BITS, P_Y_OUT_BITS, P_AXI_BYTES, P_RAM_WEIGHTS_DEPTH,
 P_WB, P_NPK, P_W_CM_M1, P_W_XN_M1, P_B_BITS, P_LANES, P_POST_BEATS, P_BIAS_BEATS, P_PIPE_BITS,
 P_WATCHDOG, P_TIMING_ONLY, P_MUTATION, P_STRETCH) = range(len(PARAMS))
N_PARAMS = len(PARAMS)

# header fields, in the table's order (F_KH2, F_KW2, ...)
HEADER_NAMES = tuple(n for n, _ in HEADER_FIELDS)
globals().update({f"F_{n}": i for i, n in enumerate(HEADER_NAMES)})
# output-pipeline configuration fields, in the table's order (Q_SH_CORE, Q_SH_BIAS, ...)
POST_NAMES = tuple(n for n, _ in POST_FIELDS)
globals().update({f"Q_{n}": i for i, n in enumerate(POST_NAMES)})

# tables: header field offsets and widths, the beat / TKEEP tables of compiler/geometry.py,
# the post-processing configuration's field offsets and widths
# (a finish packet's beats and TKEEP follow from its configuration's CG_M1: output.fin_packet)
TABLES = ("HDR_OFF", "HDR_W", "PB_OF_KH2", "OB_OF_KW2", "KEEP_OF_KW2", "CO_OF_KW2", "POST_OFF",
          "POST_W", "PK_OF_KH2")
(T_HDR_OFF, T_HDR_W, T_PB_OF_KH2, T_OB_OF_KW2, T_KEEP_OF_KW2, T_CO_OF_KW2, T_POST_OFF,
 T_POST_W, T_PK_OF_KH2) = range(len(TABLES))


def param_vector(hw, watchdog: int, timing_only: bool, mutation: int,
                 stretch: bool = True) -> np.ndarray:
    """stretch: the timing-only clock jumps over steady MAC stretches (stretch.py; same result)."""
    run = {"WATCHDOG": watchdog, "TIMING_ONLY": int(bool(timing_only)), "MUTATION": mutation,
           "STRETCH": int(bool(stretch)),
           "W_CM_M1": hw.header_field_width("CM_M1"), "W_XN_M1": hw.header_field_width("XN_M1")}
    return np.array([run[n] if n in run else getattr(hw, n) for n in PARAMS], np.int64)


def tables(hw) -> tuple:
    """The loop's tables, one int64 array each."""
    widths = dict(hw.header_fields)
    beats = beat_tables(hw, widths["KH2"], widths["KW2"])
    offs = hw.header_offsets()
    post_off, off = [], 0
    for _, w in POST_FIELDS:
        post_off.append(off)
        off += w
    rows = [[offs[n] for n in HEADER_NAMES], [widths[n] for n in HEADER_NAMES],
            beats["PB_OF_KH2"], beats["OB_OF_KW2"], beats["KEEP_OF_KW2"], beats["CO_OF_KW2"],
            post_off, [w for _, w in POST_FIELDS], beats["PK_OF_KH2"]]
    return tuple(np.array(r, np.int64) for r in rows)
