"""`Hardware`: one accelerator configuration, its derived widths, and its exports.

Every other layer (RTL, firmware, cycle model, reference model) reads its sizes from here, so the
header field list and all derived widths are computed in exactly one place.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields

from ..errors import HardwareError
from ..values import allowed_keys_text, is_int, plain
from . import geometry


def clog2v(v: int) -> int:
    """Bits needed to hold the non-negative value `v` (at least 1, never a zero-width field)."""
    v = int(v)
    if v < 0:
        raise ValueError(f"clog2v: value {v} must be >= 0")
    return max(1, v.bit_length())


def _pair(name, v):
    if isinstance(v, (list, tuple)):
        if len(v) != 2 or not all(is_int(i) for i in v):
            raise HardwareError(name, v, "an int or a pair of ints (H, W)")
        return v[0], v[1]
    if not is_int(v):
        raise HardwareError(name, v, "an int or a pair of ints (H, W)")
    return v, v


_ARGS = (
    "processing_elements", "frequency_mhz", "bits_input", "bits_weights", "bits_sum", "bits_bias",
    "max_batch_size", "max_channels_in", "max_kernel_size", "max_image_size", "ram_weights_depth",
    "ram_edges_depth", "axi_width", "target_cpu_int_bits", "async_resetn", "valid_prob",
    "ready_prob", "data_dir", "max_n_bundles", "header_width", "config_baseaddr",
    "axi_max_burst_len", "tb_module",
)

# Header beat fields, LSB first (architecture §2). Width functions take the Hardware.
HEADER_FIELDS = (
    ("KH2", lambda h: clog2v(h.KH_MAX // 2)),
    ("KW2", lambda h: clog2v(h.KW_MAX // 2)),
    ("CM_M1", lambda h: clog2v(h.RAM_WEIGHTS_DEPTH - 1)),
    ("XW_M1", lambda h: clog2v(h.XW_MAX - 1)),
    ("XL_M1", lambda h: clog2v(h.XL_MAX - 1)),
    ("XN_M1", lambda h: clog2v(h.XN_MAX - 1)),
    ("WROWS_M1", lambda h: clog2v(h.RAM_WEIGHTS_DEPTH - 1)),
    ("X_SIGNED", lambda h: 1),
    ("FINISH", lambda h: 1),          # 1: the engine finishes the job on chip (architecture §17)
)

# Widths of the output pipeline's configuration fields (architecture §17.1)
W_SHIFT, W_SLOPE, W_CLIP = 6, 4, 18
W_GROUPS = 10       # CG_M1: channel groups of a finish job's packets - 1 (COLS <= 1024)
PIPE_HEADROOM = 8   # PIPE_BITS = max(Y_BITS, B_BITS, W_CLIP) + this: room for the binary-point
                    # shifts real quantisers need (post.decide proves each bundle fits or falls back)

# The post-processing configuration of a finish job, LSB first (architecture §17.1); the weights
# stream carries it after the header beat.
POST_FIELDS = (
    ("SH_CORE", W_SHIFT), ("SH_BIAS", W_SHIFT),
    ("A1", W_SHIFT), ("B1", W_SHIFT), ("K1", W_SLOPE), ("LO1", W_CLIP), ("HI1", W_CLIP),
    ("ADD", 1), ("SKIP_SIGNED", 1), ("SH_ACT", W_SHIFT), ("SH_SKIP", W_SHIFT),
    ("A2", W_SHIFT), ("B2", W_SHIFT), ("K2", W_SLOPE), ("LO2", W_CLIP), ("HI2", W_CLIP),
    ("CG_M1", W_GROUPS),
)
POST_SIGNED = ("LO1", "HI1", "LO2", "HI2")     # two's complement fields


# The engine's parameters as every generated file names them (architecture §1):
# (name, meaning, targets). "sv": the SystemVerilog package dsf_cfg (only what the RTL uses, so
# the package has no dead entries), "c": dsf_cfg.h and config_hw.tcl.
PARAMETERS = (
    ("ROWS", "PE array rows", "sv c"),
    ("COLS", "PE array columns", "sv c"),
    ("X_BITS", "pixel / activation word bits", "sv c"),
    ("K_BITS", "weight word bits", "sv c"),
    ("Y_BITS", "accumulator bits (sums wrap here)", "sv c"),
    ("Y_OUT_BITS", "output word bits (power of two >= Y_BITS, >= 8)", "sv c"),
    ("B_BITS", "bias word bits (weights.bin, finish jobs' bias beats)", "sv c"),
    ("KH_MAX", "largest kernel height", "c"),
    ("KW_MAX", "largest kernel width", "c"),
    ("XN_MAX", "largest batch", "c"),
    ("XH_MAX", "largest image height", "c"),
    ("XW_MAX", "largest image width", "c"),
    ("XL_MAX", "largest number of row blocks", "c"),
    ("CI_MAX", "largest number of input channels", "c"),
    ("RAM_WEIGHTS_DEPTH", "rows of one weight bank", "sv c"),
    ("RAM_EDGES_DEPTH", "edge RAM depth (validated, no edge RAM built yet)", "c"),
    ("AXI_WIDTH", "AXI-Stream data bits", "sv c"),
    ("AXI_BYTES", "AXI-Stream data bytes", "sv c"),
    ("PR_MAX", "words of the tallest pixel column (ROWS + 2*(KH_MAX//2))", "c"),
    ("PB_MAX", "beats of the tallest pixel column", "sv c"),
    ("PK_MAX", "pixel columns per slot of the shortest column (KH = 1)", "c"),
    ("WB", "beats of one weight row", "sv c"),
    ("OB_MAX", "beats of the largest output packet", "sv c"),
    ("NPK", "output packet FIFO entries (KW_MAX//2 + 2)", "sv c"),
    ("HEADER_BITS", "bits of the header beat that carry fields", "sv c"),
    ("PBW", "bits of a pixel-column beat counter", "sv c"),
    ("PKW", "bits of a pixel-column-in-slot counter", "sv c"),
    ("WBW", "bits of a weight-row beat counter", "sv c"),
    ("OBW", "bits of an output-packet beat counter", "sv c"),
    ("NPK_PW", "bits of a packet FIFO pointer", "sv c"),
    ("NPK_CW", "bits of the packet FIFO count", "sv c"),
    ("LANES", "output words per beat of a finished packet (AXI_WIDTH / X_BITS)", "sv c"),
    ("POST_BITS", "bits of the post-processing configuration", "sv c"),
    ("POST_BEATS", "beats of the post-processing configuration", "sv c"),
    ("BIAS_BEATS", "beats of a finish job's COLS bias words", "c"),
    ("CFG_BEATS", "beats of a finish job's configuration set (POST_BEATS + BIAS_BEATS)", "sv c"),
    ("CFGBW", "bits of a configuration-beat counter", "sv c"),
    ("COW", "bits of an output-channel (lane) index, 0..COLS", "sv c"),
    ("PIPE_BITS", "signed width of the output pipeline's intermediates", "sv c"),
    ("W_SHIFT", "width of a pipeline shift field", "sv c"),
    ("W_SLOPE", "width of a leaky-slope shift field", "sv c"),
    ("W_CLIP", "width of a clip bound field (two's complement)", "sv c"),
)
PARAMETER_TARGETS = {n: t.split() for n, _, t in PARAMETERS}


@dataclass(init=False)
class Hardware:
    """A ROWS x COLS engine configuration (argument names follow the DeepSoCFlow seed)."""

    processing_elements: tuple = (8, 96)
    frequency_mhz: float = 250
    bits_input: int = 4
    bits_weights: int = 4
    bits_sum: int = 16
    bits_bias: int = 16
    max_batch_size: int = 64
    max_channels_in: int = 2048
    max_kernel_size: object = 13
    max_image_size: object = 512
    ram_weights_depth: int = 20
    ram_edges_depth: int = 288
    axi_width: int = 64
    target_cpu_int_bits: int = 32
    async_resetn: bool = True
    valid_prob: float = 0.1
    ready_prob: float = 0.1
    data_dir: str = "vectors"
    # CGRA4ML's extra arguments (api_compat.md §B): max_n_bundles is checked at export; the
    # others are recorded in hardware.json for its scripts (dsf_sim's header is one AXI beat,
    # §2, and it has no configuration registers)
    max_n_bundles: int = 64
    header_width: int = 64
    config_baseaddr: str = "B0000000"
    axi_max_burst_len: int = 16
    tb_module: str = "top_tb"
    header_fields: list = field(init=False, repr=False)
    post_fields: list = field(init=False, repr=False)

    def __init__(self, *args, **kwargs):
        """The arguments in `_ARGS` order, by position or name; an unknown or repeated name is a
        HardwareError naming it (with the closest spelling), not a TypeError."""
        if len(args) > len(_ARGS):
            raise HardwareError("positional arguments", len(args), f"at most {len(_ARGS)}")
        for k in kwargs:
            if k not in _ARGS:
                raise HardwareError(f"Hardware argument {k!r}", kwargs[k], allowed_keys_text(k, _ARGS))
        for k, v in zip(_ARGS, args):
            if k in kwargs:
                raise HardwareError(k, kwargs[k], "given once (it is also positional argument "
                                    f"{_ARGS.index(k) + 1})")
            kwargs[k] = v
        for f in fields(self):
            if f.init:
                setattr(self, f.name, kwargs[f.name] if f.name in kwargs else f.default)
        self.__post_init__()

    def __post_init__(self):
        for k in _ARGS:  # accept numpy scalars/arrays from user code: store plain Python values
            setattr(self, k, plain(getattr(self, k)))
        self._validate()
        self._derive()

    # ------------------------------------------------------------------ validation
    def _validate(self):
        pe = self.processing_elements
        if not isinstance(pe, (list, tuple)) or len(pe) != 2:
            raise HardwareError("processing_elements", pe, "a pair (ROWS, COLS)")
        rows, cols = pe[0], pe[1]
        for n, v in (("processing_elements[0] (ROWS)", rows), ("processing_elements[1] (COLS)",
                                                              cols)):
            if not is_int(v):
                raise HardwareError(n, v, "an int")
        if not 1 <= rows <= 256:
            raise HardwareError("processing_elements[0] (ROWS)", rows, "1..256")
        if not 1 <= cols <= 1024:
            raise HardwareError("processing_elements[1] (COLS)", cols, "1..1024")
        self.processing_elements = (rows, cols)
        for name in ("bits_input", "bits_weights", "bits_bias", "bits_sum", "axi_width",
                     "target_cpu_int_bits"):
            if not is_int(getattr(self, name)):
                raise HardwareError(name, getattr(self, name), "an int")
        if not (isinstance(self.frequency_mhz, (int, float)) and not isinstance(
                self.frequency_mhz, bool) and 0 < self.frequency_mhz <= 5000):
            raise HardwareError("frequency_mhz", self.frequency_mhz, "0 < f <= 5000")
        for name in ("bits_input", "bits_weights"):
            if getattr(self, name) not in (1, 2, 4, 8, 16):
                raise HardwareError(name, getattr(self, name), "one of 1, 2, 4, 8, 16")
        if self.bits_bias not in (8, 16, 32):
            raise HardwareError("bits_bias", self.bits_bias, "one of 8, 16, 32")
        prod_bits = self.bits_input + 1 + self.bits_weights
        if not (isinstance(self.bits_sum, int) and prod_bits <= self.bits_sum <= 48):
            raise HardwareError("bits_sum", self.bits_sum,
                                f"{prod_bits}..48 (must hold one product of "
                                f"{self.bits_input + 1}-bit x {self.bits_weights}-bit)")
        for name, lo, hi in (("max_batch_size", 1, 1 << 16), ("max_channels_in", 1, 1 << 16),
                             ("ram_weights_depth", 1, 1 << 20), ("ram_edges_depth", 1, 1 << 20)):
            v = getattr(self, name)
            if not is_int(v) or not lo <= v <= hi:
                raise HardwareError(name, v, f"an integer in {lo}..{hi}")
        kh, kw = _pair("max_kernel_size", self.max_kernel_size)
        for n, k in (("max_kernel_size (KH)", kh), ("max_kernel_size (KW)", kw)):
            if k < 1 or k % 2 == 0 or k > 63:
                raise HardwareError(n, k, "an odd integer in 1..63")
        if kh // 2 > rows:
            raise HardwareError("max_kernel_size (KH)", kh,
                                f"KH//2 <= ROWS = {rows} (halo rows must fit the array)")
        if kw > cols:
            raise HardwareError("max_kernel_size (KW)", kw, f"<= COLS = {cols}")
        if self.ram_weights_depth < kh:
            raise HardwareError("ram_weights_depth", self.ram_weights_depth,
                                f">= KH_MAX = {kh} (one input channel of the tallest kernel)")
        xh, xw = _pair("max_image_size", self.max_image_size)
        for n, v in (("max_image_size (H)", xh), ("max_image_size (W)", xw)):
            if not 1 <= v <= 1 << 16:
                raise HardwareError(n, v, "1..65536")
        if self.axi_width not in (32, 64, 128, 256, 512, 1024):
            raise HardwareError("axi_width", self.axi_width, "one of 32, 64, 128, 256, 512, 1024")
        if self.target_cpu_int_bits not in (32, 64):
            raise HardwareError("target_cpu_int_bits", self.target_cpu_int_bits, "32 or 64")
        for name in ("valid_prob", "ready_prob"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1):
                raise HardwareError(name, v, "0 < p <= 1")
        if not isinstance(self.async_resetn, bool):
            raise HardwareError("async_resetn", self.async_resetn, "True or False")
        if not isinstance(self.data_dir, str) or not self.data_dir:
            raise HardwareError("data_dir", self.data_dir, "a non-empty path string")
        for name, lo, hi in (("max_n_bundles", 1, 1 << 16), ("header_width", 8, 1024),
                             ("axi_max_burst_len", 1, 256)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise HardwareError(name, v, f"an integer in {lo}..{hi}")
        try:
            int(str(self.config_baseaddr), 16)
        except ValueError:
            raise HardwareError("config_baseaddr", self.config_baseaddr,
                                "a hexadecimal address string such as 'B0000000'") from None
        if not isinstance(self.tb_module, str) or not self.tb_module.isidentifier():
            raise HardwareError("tb_module", self.tb_module, "a SystemVerilog module name")

    def _derive(self):
        self.ROWS, self.COLS = self.processing_elements
        self.X_BITS, self.K_BITS = self.bits_input, self.bits_weights
        self.Y_BITS, self.B_BITS = self.bits_sum, self.bits_bias
        self.Y_OUT_BITS = max(8, 1 << (self.Y_BITS - 1).bit_length())
        self.XN_MAX = self.max_batch_size
        self.CI_MAX = self.max_channels_in
        self.KH_MAX, self.KW_MAX = _pair("max_kernel_size", self.max_kernel_size)
        self.XH_MAX, self.XW_MAX = _pair("max_image_size", self.max_image_size)
        self.XL_MAX = -(-max(self.XH_MAX, self.XN_MAX) // self.ROWS)
        self.RAM_WEIGHTS_DEPTH = self.ram_weights_depth
        self.RAM_EDGES_DEPTH = self.ram_edges_depth
        self.AXI_WIDTH = self.axi_width
        self.AXI_BYTES = self.axi_width // 8
        self.PR_MAX = geometry.pixel_column_words(self, self.KH_MAX // 2)
        self.PB_MAX = geometry.pixel_column_beats(self, self.KH_MAX // 2)
        self.PK_MAX = geometry.pixel_columns_per_slot(self, 0)
        self.PKW = clog2v(self.PK_MAX)
        self.WB = geometry.weight_row_beats(self)
        self.OB_MAX = geometry.packet_beats(self, 0)   # KW = 1: every column is a group
        self.NPK = self.KW_MAX // 2 + 2   # P_W + 1 flush packets back to back, plus one
        self.PBW, self.WBW, self.OBW = clog2v(self.PB_MAX), clog2v(self.WB), clog2v(self.OB_MAX)
        self.NPK_PW, self.NPK_CW = clog2v(self.NPK - 1), clog2v(self.NPK)
        self.CPU_INT_BITS = self.target_cpu_int_bits
        self.LANES = self.AXI_WIDTH // self.X_BITS
        self.W_SHIFT, self.W_SLOPE, self.W_CLIP = W_SHIFT, W_SLOPE, W_CLIP
        self.PIPE_BITS = min(62, max(self.Y_BITS, self.B_BITS, W_CLIP) + PIPE_HEADROOM)
        self.post_fields = list(POST_FIELDS)
        self.POST_BITS = sum(w for _, w in POST_FIELDS)
        self.POST_BEATS = geometry.cdiv(self.POST_BITS, self.AXI_WIDTH)
        self.BIAS_BEATS = geometry.cdiv(self.COLS * self.B_BITS, self.AXI_WIDTH)
        self.CFG_BEATS = self.POST_BEATS + self.BIAS_BEATS
        self.CFGBW = clog2v(self.CFG_BEATS - 1)
        self.COW = clog2v(self.COLS)
        self.header_fields = [(n, f(self)) for n, f in HEADER_FIELDS]
        total = sum(w for _, w in self.header_fields)
        if total > self.AXI_WIDTH:
            raise HardwareError("axi_width", self.AXI_WIDTH,
                                f">= {total} bits needed by the header beat "
                                f"({', '.join(f'{n}:{w}' for n, w in self.header_fields)})")
        self.HEADER_BITS = total

    # ------------------------------------------------------------------ helpers
    def header_field_width(self, name: str) -> int:
        return dict(self.header_fields)[name]

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.ROWS * self.COLS

    PARAMETER_TARGETS = PARAMETER_TARGETS

    def parameters(self) -> list:
        """(name, value, meaning) of every generated parameter, in table order."""
        return [(n, getattr(self, n), doc) for n, doc, _ in PARAMETERS]

    def header_offsets(self) -> dict:
        """Bit offset of every header field (LSB first)."""
        out, off = {}, 0
        for n, w in self.header_fields:
            out[n] = off
            off += w
        return out

    def derived(self) -> dict:
        """Every upper-case derived parameter (what the RTL and firmware see)."""
        d = {k: v for k, v in vars(self).items() if k.isupper()}
        d.update({f"W_{n}": w for n, w in self.header_fields})
        return d

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in _ARGS}
        d["processing_elements"] = list(self.processing_elements)
        for k in ("max_kernel_size", "max_image_size"):
            if isinstance(d[k], tuple):
                d[k] = list(d[k])
        return d

    def to_json(self) -> str:
        """The configuration as JSON text (what hardware.json holds)."""
        return json.dumps(self.to_dict(), indent=2)

    def export_json(self, path: str = "./hardware.json") -> None:
        """Write hardware.json (DeepSoCFlow API: writes the file, returns nothing); atomic."""
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise HardwareError("export_json path", path, "a file path")
        path = os.fspath(path)
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(self.to_json() + "\n")
        os.replace(tmp, path)

    @classmethod
    def from_dict(cls, d: dict) -> "Hardware":
        if not isinstance(d, dict):
            raise HardwareError("hardware json", type(d).__name__, "an object of Hardware "
                                "arguments")
        unknown = sorted(set(d) - set(_ARGS))
        if unknown:
            raise HardwareError("hardware json keys", unknown,
                                f"a subset of {list(_ARGS)}"
                                + allowed_keys_text(unknown[0], _ARGS)[len(f"one of {list(_ARGS)}"):])
        d = dict(d)
        d["processing_elements"] = tuple(d.get("processing_elements", (8, 96)))
        for k in ("max_kernel_size", "max_image_size"):
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
        return cls(**d)

    @classmethod
    def from_json(cls, path_or_text: str = "./hardware.json") -> "Hardware":
        """Accepts a path to hardware.json (default: ./hardware.json, as DeepSoCFlow) or the JSON
        text itself."""
        if isinstance(path_or_text, os.PathLike):
            path_or_text = os.fspath(path_or_text)
        if not isinstance(path_or_text, str):
            raise HardwareError("hardware json", path_or_text, "a path or JSON text (str)")
        if os.path.isdir(path_or_text):
            raise HardwareError("hardware json", path_or_text, "a hardware.json file (this is a "
                                "folder)")
        if os.path.exists(path_or_text):
            with open(path_or_text) as f:
                text = f.read()
        elif path_or_text.lstrip().startswith("{"):
            text = path_or_text
        else:
            raise HardwareError("hardware json", path_or_text,
                                "an existing hardware.json path or JSON text")
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise HardwareError("hardware json", path_or_text, f"valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise HardwareError("hardware json", type(d).__name__, "a JSON object")
        return cls.from_dict(d)

    def __eq__(self, other):
        return isinstance(other, Hardware) and self.to_dict() == other.to_dict()


def prob_threshold(p: float) -> int:
    """The one probability -> threshold rule of every handshake PRNG (architecture §5): a draw
    is true iff the xorshift32 state < threshold; p >= 1 gives 2^32 (always true)."""
    if p >= 1:
        return 1 << 32
    return int(math.floor(float(p) * (1 << 32)))
