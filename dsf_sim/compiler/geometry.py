"""Job geometry: the one place where beat counts, the MAC-beat bound and MAC counts are computed.

Architecture §3 (stream formats) and §7.6 (cycle costs). Everything else reads these numbers:
`Hardware` its maxima, the generated SystemVerilog package and C header their per-job tables
(`beat_tables`), the export the firmware's per-pass byte counts, the twin its tables, and the
lowering cost model, the benchmark and the SoC model the per-job bounds. The functions take any
object with the upper-case hardware names (ROWS, COLS, X_BITS, K_BITS, Y_OUT_BITS, AXI_WIDTH).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import HardwareError


def cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


# ----------------------------------------------------------------------------- per stream unit
def pixel_column_words(hw, kh2: int) -> int:
    """PR: words of one pixel column, the ROWS rows of a block plus KH//2 halo rows each side."""
    return hw.ROWS + 2 * kh2


def pixel_column_beats(hw, kh2: int) -> int:
    """PB: beats of one pixel slot (one column, or PK columns that fit one beat)."""
    return cdiv(pixel_column_words(hw, kh2) * hw.X_BITS, hw.AXI_WIDTH)


def pixel_columns_per_slot(hw, kh2: int) -> int:
    """PK: pixel columns packed into one slot of PB beats (architecture §3): as many as fit one
    beat whole, else 1 (a column spans PB beats)."""
    return max(1, hw.AXI_WIDTH // (pixel_column_words(hw, kh2) * hw.X_BITS))


def weight_row_beats(hw) -> int:
    """WB: beats of one weight RAM row (COLS words of K_BITS)."""
    return cdiv(hw.COLS * hw.K_BITS, hw.AXI_WIDTH)


def groups(hw, kw2: int) -> int:
    """CO_PRL: elastic groups of KW = 2*kw2+1 columns = output channels per iteration."""
    return hw.COLS // (2 * kw2 + 1)


def finish_groups(hw, kw2: int, cg: int | None) -> int:
    """CG: channel groups a finish packet carries (architecture §17.2): the job's valid groups
    `cg` (its configuration's CG_M1 + 1), at most CO_PRL; all CO_PRL groups when not given."""
    co = groups(hw, kw2)
    return co if cg is None else min(int(cg), co)


def packet_bytes(hw, kw2: int, finish: bool = False, cg: int | None = None) -> int:
    """Bytes holding words in one output packet: ROWS * CO_PRL words of Y_OUT_BITS (raw sums) or
    ROWS * CG words of X_BITS (finished activations of the job's CG valid channel groups,
    architecture §17.2; the last byte may be partly padding)."""
    if finish:
        return cdiv(hw.ROWS * finish_groups(hw, kw2, cg) * hw.X_BITS, 8)
    return cdiv(hw.ROWS * groups(hw, kw2) * hw.Y_OUT_BITS, 8)


def packet_beats(hw, kw2: int, finish: bool = False, cg: int | None = None) -> int:
    """OB (OB_FIN): beats of one output packet; 1 for a KW no group fits (never a valid job)."""
    return max(1, cdiv(packet_bytes(hw, kw2, finish, cg), hw.AXI_WIDTH // 8))


def packet_last_keep(hw, kw2: int, finish: bool = False, cg: int | None = None) -> int:
    """Bytes kept (TKEEP) on a packet's last beat; applied only on the job's TLAST beat."""
    nbytes = packet_bytes(hw, kw2, finish, cg)
    if nbytes < 1:
        return hw.AXI_WIDTH // 8
    return nbytes - (packet_beats(hw, kw2, finish, cg) - 1) * (hw.AXI_WIDTH // 8)


def row_blocks(hw, xh: int) -> int:
    """XL: blocks of ROWS image rows."""
    return cdiv(xh, hw.ROWS)


def beat_tables(hw, w_kh2: int, w_kw2: int) -> dict:
    """Per-header-value tables the RTL and the twin index by the job's KH//2 or KW//2 (every
    value the header field can hold, so the lookup is total)."""
    kw2s = range(1 << w_kw2)
    return {"PB_OF_KH2": [pixel_column_beats(hw, v) for v in range(1 << w_kh2)],
            "PK_OF_KH2": [pixel_columns_per_slot(hw, v) for v in range(1 << w_kh2)],
            "OB_OF_KW2": [packet_beats(hw, v) for v in kw2s],
            "KEEP_OF_KW2": [packet_last_keep(hw, v) for v in kw2s],
            # a finish packet's beats and TKEEP depend on its configuration's CG_M1 (§17.2):
            # computed, not tabled; lanes whose channel is >= min(CG, CO_PRL) carry no word
            "CO_OF_KW2": [max(0, groups(hw, v)) for v in kw2s]}


# ----------------------------------------------------------------------------- MAC counts
def conv_macs(n, oh, ow, co, ci, kh, kw) -> int:
    """MACs of a convolution layer (original layer, not the lowered one)."""
    return int(n) * int(oh) * int(ow) * int(co) * int(ci) * int(kh) * int(kw)


def dense_macs(n, ci, co) -> int:
    return int(n) * int(ci) * int(co)


# ----------------------------------------------------------------------------- one job
@dataclass(frozen=True)
class JobGeometry:
    """Shape of one engine job: kernel KH x KW over CM input channels of an XN x XH x XW image."""

    KH: int
    KW: int
    CM: int
    XN: int
    XH: int
    XW: int
    x_signed: bool
    finish: bool = False     # the engine finishes the job (architecture §17)
    add: bool = False        # ... and adds a skip tensor (a skip stream of output_beats beats)
    cg: int | None = None    # ... sending its first cg channel groups (CG_M1 + 1; None: CO_PRL)

    @property
    def P_H(self) -> int:
        return self.KH // 2

    @property
    def P_W(self) -> int:
        return self.KW // 2

    def XL(self, hw) -> int:
        return row_blocks(hw, self.XH)

    def CO_PRL(self, hw) -> int:
        return groups(hw, self.P_W)

    def PR(self, hw) -> int:
        return pixel_column_words(hw, self.P_H)

    def PB(self, hw) -> int:
        return pixel_column_beats(hw, self.P_H)

    def PK(self, hw) -> int:
        return pixel_columns_per_slot(hw, self.P_H)

    def CB(self, hw) -> int:
        """Pixel slots per pixel position: the CM columns, PK per slot."""
        return cdiv(self.CM, self.PK(hw))

    def CG(self, hw) -> int:
        """Channel groups of a finish packet (CO_PRL for a raw job)."""
        return finish_groups(hw, self.P_W, self.cg if self.finish else None)

    def OB(self, hw) -> int:
        return packet_beats(hw, self.P_W, self.finish, self.cg)

    def columns(self, hw) -> int:
        """Output columns (packets) of the job: XN * XL * XW."""
        return self.XN * self.XL(hw) * self.XW

    def header_fields(self, hw) -> dict:
        """Values of the header beat's fields (names: `Hardware.header_fields`)."""
        return dict(KH2=self.P_H, KW2=self.P_W, CM_M1=self.CM - 1, XW_M1=self.XW - 1,
                    XL_M1=self.XL(hw) - 1, XN_M1=self.XN - 1, WROWS_M1=self.CM * self.KH - 1,
                    X_SIGNED=int(bool(self.x_signed)), FINISH=int(bool(self.finish)))

    def check(self, hw, where="job"):
        """Raise a named error if this job cannot run on `hw`."""
        lim = [("KH", self.KH, 1, hw.KH_MAX), ("KW", self.KW, 1, min(hw.KW_MAX, hw.COLS)),
               ("CM", self.CM, 1, hw.RAM_WEIGHTS_DEPTH // self.KH), ("XN", self.XN, 1, hw.XN_MAX),
               ("XW", self.XW, 1, hw.XW_MAX), ("XL", self.XL(hw), 1, hw.XL_MAX)]
        if self.finish and self.cg is not None:
            lim.append(("CG", self.cg, 1, self.CO_PRL(hw)))
        for name, v, lo, hi in lim:
            if not lo <= v <= hi:
                raise HardwareError(f"{where}: {name}", v, f"{lo}..{hi} on this hardware")
        for name, v in (("KH", self.KH), ("KW", self.KW)):
            if v % 2 == 0:
                raise HardwareError(f"{where}: {name}", v, "odd")

    # ---- stream lengths (header beat included for the two input streams)
    def weight_beats(self, hw) -> int:
        """Header, (finish: configuration and bias beats,) rows."""
        post = hw.POST_BEATS + hw.BIAS_BEATS if self.finish else 0
        return 1 + post + self.CM * self.KH * weight_row_beats(hw)

    def pixel_beats(self, hw) -> int:
        return 1 + self.columns(hw) * self.CB(hw) * self.PB(hw)

    def output_beats(self, hw) -> int:
        return self.columns(hw) * self.OB(hw)

    def output_bytes_moved(self, hw) -> int:
        """Bytes the output DMA writes: whole beats except the TLAST beat's kept bytes."""
        b = hw.AXI_WIDTH // 8
        return self.output_beats(hw) * b - (b - packet_last_keep(hw, self.P_W, self.finish,
                                                                   self.cg))

    def skip_beats(self, hw) -> int:
        """Beats of the skip stream (an adding finish job: one per output beat)."""
        return self.output_beats(hw) if self.add else 0

    def mac_beats(self, hw) -> int:
        return self.columns(hw) * self.CM * self.KH

    def mac_cycles(self, hw) -> int:
        """Cycles of the job when the MAC beats set the pace: per row block XW*CM*KH MAC beats and
        P_W+1 flush beats, plus the header cycle (architecture §7.6)."""
        return self.XN * self.XL(hw) * (self.XW * self.CM * self.KH + self.P_W + 1) + 1

    def bounds(self, hw, next_job: "JobGeometry | None" = None) -> dict:
        """Lower bounds of the job's cycles with valid/ready = 1, one per resource; the next job's
        weights stream into the free bank while this one computes."""
        return {"mac": self.mac_cycles(hw), "output": self.output_beats(hw),
                "pixels": self.pixel_beats(hw),
                "weights": next_job.weight_beats(hw) if next_job is not None else 0,
                "skip": self.skip_beats(hw)}
