"""The most a layer can get out of the array under the engine's mapping rules, whatever the lowering.

Why: a fps target is only worth chasing with lowerings if some lowering can reach it. Two rules of
the contract (architecture §9, §11) cap a layer's PE utilisation before any lowering choice:
- **rows**: a job's ROWS PE rows compute ROWS consecutive output rows of one image (of one row of
  a dense core's batch/tokens), so a conv output of height H occupies ceil(H / ROWS) row blocks;
- **columns**: a column holds one kernel column of one output channel, so an iteration covers
  CO_PRL = COLS // KW_e channels, each with KW_e columns (KW_e odd, at most the kernel's width,
  or 1 when the taps become channels); CO channels take ceil(CO / CO_PRL) iterations.
Every lowering of today (sub-convolution parts, space-to-depth, taps as channels, even kernels
padded to odd) obeys both, so `bound_cycles` is a lower bound of any lowering's MAC beats and
their sum one of a network's cycles (tests/test_bounds.py checks both against the twin), and
the network's fps at these bounds an upper bound. Kernel taps are assumed all
useful and nothing is assumed about drains or DRAM: the bound is loose, never too tight.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class LayerBound:
    name: str
    rows: int            # output rows per image (conv) or the dense core's rows
    co: int
    kw: int              # the layer's kernel width (1 for dense)
    kw_e: int            # the engine kernel width that uses the columns best
    row_use: float       # useful share of the row blocks
    col_use: float       # useful share of the columns, at kw_e
    macs: int
    bound_cycles: float  # macs / (ROWS * COLS * row_use * col_use)

    def to_dict(self):
        return dict(self.__dict__)


def row_use(rows: int, ROWS: int) -> float:
    """Useful share of ceil(rows / ROWS) row blocks of ROWS PE rows."""
    return rows / (math.ceil(rows / ROWS) * ROWS)


def column_use(co: int, kw: int, COLS: int) -> tuple[float, int]:
    """(best useful share of the columns, the engine kernel width giving it) for CO channels of a
    kernel kw wide: over the odd kw_e up to kw + 1 (an even kernel padded to odd) with
    COLS // kw_e >= 1; at most min(kw_e, kw) of a group's kw_e columns hold a tap of the
    kernel (wider groups only add zero columns)."""
    best = (0.0, 1)
    for kw_e in range(1, max(1, kw) + 2, 2):
        prl = COLS // kw_e
        if prl < 1:
            break
        use = co * min(kw_e, kw) / (math.ceil(co / prl) * COLS)
        if use > best[0]:
            best = (use, kw_e)
    return best


def layer_bound(lp, hw) -> LayerBound:
    """The bound of one bench layer (perf.bench.LayerPerf with its mapping)."""
    m = lp.mapping
    if m.kind == "dense":
        rows = int(math.prod(m.lead)) if m.lead else int(lp.in_shape[0])
        kw = 1
    else:
        rows = int(m.H.out)
        kw = int(lp.kernel[1])
    co = int(m.CO)
    ru = row_use(rows, hw.ROWS)
    cu, kw_e = column_use(co, kw, hw.COLS)
    return LayerBound(lp.name, rows, co, kw, kw_e, ru, cu, int(lp.macs),
                      lp.macs / (hw.ROWS * hw.COLS * ru * cu))


def network_bound(layers, hw) -> dict:
    """Per-layer bounds and the network's totals: bound cycles and the fps they allow."""
    if not layers:
        raise ValueError("network_bound: no layers (a network has at least one bundle)")
    per = [layer_bound(lp, hw) for lp in layers]
    cyc = sum(b.bound_cycles for b in per)
    macs = sum(b.macs for b in per)
    f = hw.frequency_mhz * 1e6
    return dict(layers=[b.to_dict() for b in per], bound_cycles=cyc, bound_fps=f / cyc,
                ideal_fps=f * hw.ROWS * hw.COLS / macs, macs=macs,
                row_loss_cycles=sum(b.macs / (hw.ROWS * hw.COLS) * (1 / b.row_use - 1)
                                    for b in per),
                column_loss_cycles=sum(b.macs / (hw.ROWS * hw.COLS * b.row_use)
                                       * (1 / b.col_use - 1) for b in per))
