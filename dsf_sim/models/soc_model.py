"""SoC / DRAM model (simpy) around the engine's cycle-model timing (architecture §12.3).

Inputs per job (global firmware order bundle -> it -> p): the engine's cycles with ideal streams
(from the cycle model, `perf.bench.simulate`) and the bytes of its three streams. simpy decides
when each channel's data is delivered:

* DRAM: `bw_gbs` GB/s, `latency_ns` per burst (pipelined: up to `outstanding` bursts in flight per
  channel), one shared data bus for reads and writes (`rw_shared=True`) or one bus per direction.
  A burst of `burst_bytes` occupies its bus for bytes / bandwidth; its data lands `latency`
  after it crossed, in `pieces` parts (reads stream their beats).
* DMA channels 0 pixels (M2S), 1 weights (M2S), 2 output (S2M), 3 skip (M2S, jobs that add a
  residual on chip, architecture §17.4). M2S channels may only issue a burst when the channel FIFO
  (`fifo_bytes`) has room for it; S2M drains the engine's output FIFO.
* Engine: job j starts when its weights are in a bank (two banks: W(j) may load once job j-2 has
  finished) and runs in max(`slices`, bytes / (fifo_bytes/2)) equal slices of (cycles_j /
  slices) each; slice k first takes its share of the pixel bytes from the pixel FIFO, then
  computes while (adding finish jobs) it takes its share of skip bytes from the skip FIFO, and
  then puts its share of output bytes into the output FIFO (blocking when full). With ideal DRAM every wait is zero and the time is exactly the engine-only time.
* Firmware CPU (optional `cpu`), only what the firmware still does (architecture §17.4): after a
  job's output transfer, a single core accumulates passes of raw bundles (`acc` cycles/element
  when CP > 1); at a raw bundle's end it runs requantise/activation (+ residual add) and pool; a
  finish bundle's end only unpacks its finished words (`unpack`) when it pools or is the model's
  output, then pools; then the packing of the next bundle's pixel columns (`pack` per packed
  word) and, for an adding finish bundle whose skip is not a producer's finished output, its skip
  streams (`skip_pack` per word). The next bundle's pixel DMA waits for it. `a53`'s numbers
  are assumptions (a vectorised firmware), `a53-measured`'s the firmware's own instructions
  counted under qemu (benchmarks/cpu_costs.py).

DRAM is either this bandwidth/latency server (`dram_model="transaction"`, the fast option) or the
bank-level controller of dram_banks.py (`"bank"`, architecture §12.3.1): each burst is served
column access by column access at its address (every channel a sequential cursor in its own
256 MB region), holds the bus while its commands issue and lands `ctrl_latency_ns` after its
last data. Every burst's time is split by cause (data at peak, latency, row misses, refresh,
turnaround, bank group, waiting for the bus), and every engine stall is charged to its job's
bundle, so `layer_stalls_s` / `layer_why_s` say per layer how long each channel stalled it and why.

Limits: CPU memory traffic is not put on the DRAM bus; the engine's fine-grained stall pattern inside a
job is approximated by `slices` slices (exact at both ends: ideal memory and fully memory-bound).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from .dram_banks import BANK_PRESETS, WHY, BankDram, DramTiming

DRAM_PRESETS = {
    # name: (GB/s, latency ns, read/write share one bus)
    "ideal": dict(bw_gbs=float("inf"), latency_ns=0.0, rw_shared=True),
    "ddr4-2400": dict(bw_gbs=19.2, latency_ns=80.0, rw_shared=True),        # 64-bit DDR4-2400
    "lpddr4-3200": dict(bw_gbs=12.8, latency_ns=100.0, rw_shared=True),     # 32-bit LPDDR4-3200
    "zcu104-ps": dict(bw_gbs=19.2, latency_ns=120.0, rw_shared=True),       # PS DDR4-2666 via HP ports, shared
}

CPU_PRESETS = {
    "none": None,
    # Cortex-A53 @ 1.2 GHz, one core, NEON; cycles per element (assumptions, architecture §12.3)
    "a53": dict(ghz=1.2, acc=0.5, requant=1.5, add=1.0, pool=0.5, pack=1.0, unpack=1.0,
                skip_pack=1.0, per_bundle=20000,
                # the integer functions of architecture §21-§22 per element, measured:
                # AArch64 instructions of the firmware's own code under qemu + 16 cycles per
                # 64-bit division (benchmarks/cpu_costs.py -> results/cpu_costs.json)
                softmax=158.0, gelu=250.0, layernorm=63.0,
                # by table (every input value once, then per element): GELU a lookup; softmax
                # max, lookup, sum, lookup per element, and a division (+ quantiser) per row
                # and table entry (div); LayerNorm min/max, sum, square, lookup per element
                gelu_lut=11.5, softmax_lut=22.5, div=16.0, layernorm_lut=28.6),
}
# The same core running the firmware as written (scalar C, -O2): the per-layer routines'
# AArch64 instructions per element counted under qemu on a ResNet-50 frame replay
# (benchmarks/cpu_costs.py --routines-only -> results/cpu_routines.json), IPC 1 assumed;
# `add` on the same frame exported with every bundle raw (--post off ->
# results/cpu_routines_post_off.json: the residual add beyond the requantisation). `skip_pack`
# occurs on neither frame: it keeps the figure of the word-by-word pack loop it shares
# (pack_skip; pack itself now copies runs of packed words for stride-1 consumers).
CPU_PRESETS["a53-measured"] = dict(CPU_PRESETS["a53"], requant=51.6, pool=34.1, unpack=27.7,
                                   pack=28.8, acc=7.4, add=58.3, skip_pack=42.8)


def fn_cpu_cycles(lp, c) -> float:
    """CPU cycles of a layer's fn stage (firmware fn_stage): element by element, or a table of
    lp.fn_lut entries then a cheaper step per element. A CPU dict without the fn keys takes
    the a53 preset's."""
    c = {**CPU_PRESETS["a53"], **c}
    per = c[lp.fn] + c["requant"]
    nt = getattr(lp, "fn_lut", 0)
    if nt and lp.fn == "gelu":
        return nt * per + lp.core_elems * c["gelu_lut"]
    n = max(1, getattr(lp, "fn_row", 0) or 1)
    if nt and lp.fn == "layernorm" and nt < n:      # per row, each value's result once
        return lp.core_elems * c["layernorm_lut"] + lp.core_elems / n * nt * (c["div"]
                                                                            + c["requant"])
    if nt and lp.fn == "softmax":
        n = max(1, getattr(lp, "fn_row", 0) or nt)
        rows = lp.core_elems / n
        return (nt * c["softmax"] + lp.core_elems * c["softmax_lut"]
                + rows * min(n, nt) * (c["div"] + c["requant"]))
    return lp.core_elems * per


@dataclass
class SocConfig:
    bw_gbs: float = float("inf")
    latency_ns: float = 0.0
    rw_shared: bool = True
    burst_bytes: int = 4096
    outstanding: int = 8
    fifo_bytes: int = 8192
    slices: int = 16
    cpu: dict | None = None
    dram_model: str = "transaction"     # or "bank" (dram_banks.py)
    banks: DramTiming | None = None     # the part of the bank-level model
    ctrl_latency_ns: float = 40.0       # bank model: AXI interconnect + controller pipeline
    pieces: int = 4                     # parts a burst's data lands in (1: all at its end)
    skip_after_compute: bool = False    # the earlier slice order, kept to compare (§12.3.2)

    @classmethod
    def preset(cls, dram="ideal", cpu="none", dram_model="transaction", **kw):
        if dram_model not in DRAM_MODELS:
            raise ValueError(f"dram_model={dram_model!r} is not one of {', '.join(DRAM_MODELS)}")
        if isinstance(dram, str) and dram not in DRAM_PRESETS:
            raise ValueError(f"dram={dram!r} is not a DRAM preset ({', '.join(DRAM_PRESETS)})")
        d = dict(DRAM_PRESETS[dram]) if isinstance(dram, str) else dict(dram)
        if dram_model == "bank":
            given = sorted({"bw_gbs", "latency_ns"} & set(kw))
            if given:
                raise ValueError(f"{', '.join(given)} cannot be set with the bank-level DRAM model "
                                 f"(its bandwidth and latency follow from the part's timings: "
                                 f"pass banks=DramTiming(...) instead)")
            if not (isinstance(dram, str) and dram in BANK_PRESETS):
                raise ValueError(f"the bank-level DRAM model needs a part: dram={dram!r} is not "
                                 f"one of {', '.join(BANK_PRESETS)}")
            d.update(banks=BANK_PRESETS[dram], bw_gbs=BANK_PRESETS[dram].peak_gbs)
        d.update(kw)
        return cls(cpu=CPU_PRESETS[cpu] if isinstance(cpu, str) else cpu, dram_model=dram_model,
                   **d)


DRAM_MODELS = ("transaction", "bank")
CHANNELS = ("pixels", "weights", "output", "skip")
REASONS = WHY + ("bus_wait",)
_REGION = 256 << 20      # bank model: each channel's addresses run through its own region


@dataclass
class SocResult:
    total_s: float
    fps: float
    layer_s: list
    layer_engine_s: list
    layer_cpu_s: list
    stalls_s: dict
    channel_bytes: dict
    channel_busy_s: dict
    timeline: list = field(default_factory=list)  # (channel, bundle, start_s, end_s)
    layer_stalls_s: list = field(default_factory=list)   # per layer {channel: s}
    layer_why_s: list = field(default_factory=list)      # per layer {channel: {reason: s}}
    dram: dict = field(default_factory=dict)             # bank model: counters
    layer_cpu_wait_s: list = field(default_factory=list)  # engine waiting for the firmware

    def attribution(self, li) -> dict:
        """Layer li's span (from the previous bundle's end to its own) in parts that add up to
        it: engine compute, DMA/DRAM stalls per (channel, cause), and the firmware time that
        did not overlap the engine (its packing / post-processing / sequencing)."""
        parts = {"compute": self.layer_engine_s[li]}
        for (ch, r), v in self.stall_split(li).items():
            parts[f"{ch}:{r}"] = v
        parts["firmware"] = max(0.0, self.layer_s[li] - sum(parts.values()))
        return parts

    def stall_split(self, li) -> dict:
        """Layer li's DMA/DRAM stall seconds per (channel, reason): each channel's stall time
        (less the waits for the firmware's packing) shared out in proportion to the causes of
        that channel's burst time in the layer."""
        out = {}
        for ch, st in self.layer_stalls_s[li].items():
            why = self.layer_why_s[li].get(ch, {})
            tot = sum(why.values())
            if st <= 0:
                continue
            if tot <= 0:
                out[(ch, "data")] = st
                continue
            for r, v in why.items():
                if v > 0:
                    out[(ch, r)] = st * v / tot
        return out

    def memory_bound(self, tol=0.02):
        """Per layer: its DMA/DRAM stalls (waits for the firmware's packing excluded) exceed
        `tol` of its compute time. Not the layer's span against its compute: with a CPU that
        span holds the firmware's time too, and every layer would look memory-bound."""
        return [sum(st.values()) > le * tol
                for st, le in zip(self.layer_stalls_s, self.layer_engine_s)]


def _split(total, n):
    """Integer shares of `total` over n slices (cumulative, exact)."""
    return [total * (k + 1) // n - total * k // n for k in range(n)]


class _Soc:
    """The simpy processes of one run: three DMA channels, the engine, the firmware CPU."""

    def __init__(self, layers, hw, cfg: SocConfig, record_timeline):
        self.env = env = simpy.Environment()
        self.layers, self.cfg, self.record = layers, cfg, record_timeline
        self.f = hw.frequency_mhz * 1e6
        self.inf = cfg.bw_gbs == float("inf")
        self.bps = cfg.bw_gbs * 1e9
        self.lat = cfg.latency_ns * 1e-9
        self.rbus = simpy.Resource(env, 1)
        self.wbus = self.rbus if cfg.rw_shared else simpy.Resource(env, 1)
        self.jobs = []   # per job in firmware order: bundle, cycles, bytes per stream, last?
        for li, lp in enumerate(layers):
            for j, (c, bytes_) in enumerate(zip(lp.job_cycles, lp.job_bytes)):
                wb, xb, ob, sb = (tuple(bytes_) + (0,))[:4]
                self.jobs.append(dict(b=li, c=c, w=wb, x=xb, o=ob, s=sb, it=j,
                                      last=(j == len(lp.job_cycles) - 1)))
        n = len(self.jobs)
        self.w_loaded = [env.event() for _ in range(n)]
        self.job_done = [env.event() for _ in range(n)]
        self.out_done = [env.event() for _ in range(n)]
        self.bundle_ready = [env.event() for _ in range(len(layers) + 1)]  # input of bundle b
        self.bundle_ready[0].succeed()
        self.x_credit = simpy.Container(env, capacity=cfg.fifo_bytes, init=cfg.fifo_bytes)
        self.x_data = simpy.Container(env, capacity=10**15, init=0)
        self.o_fifo = simpy.Container(env, capacity=cfg.fifo_bytes, init=0)
        self.s_credit = simpy.Container(env, capacity=cfg.fifo_bytes, init=cfg.fifo_bytes)
        self.s_data = simpy.Container(env, capacity=10**15, init=0)
        self.stalls = {"weights": 0.0, "pixels": 0.0, "output": 0.0, "skip": 0.0}
        self.cbytes = {"pixels": 0, "weights": 0, "output": 0, "skip": 0}
        self.busy = {"pixels": 0.0, "weights": 0.0, "output": 0.0, "skip": 0.0}
        self.timeline = []
        self.layer_end = [0.0] * len(layers)
        self.layer_cpu = [0.0] * len(layers)
        self.slot = {ch: simpy.Resource(env, cfg.outstanding)
                     for ch in ("pixels", "weights", "output", "skip")}
        self.layer_stalls = [dict.fromkeys(CHANNELS, 0.0) for _ in layers]
        self.layer_cpu_wait = [0.0] * len(layers)
        self.ready_at = [0.0] * (len(layers) + 1)
        self.layer_why = [{ch: dict.fromkeys(REASONS, 0.0) for ch in CHANNELS} for _ in layers]
        self.bank = None
        if cfg.dram_model == "bank":
            if cfg.banks is None:
                raise ValueError("SocConfig: dram_model='bank' needs banks= (a DramTiming)")
            self.bank = BankDram(cfg.banks)
            self.lat = cfg.ctrl_latency_ns * 1e-9
            self.cursor = {ch: i * _REGION for i, ch in enumerate(CHANNELS)}
        elif cfg.dram_model != "transaction":
            raise ValueError(f"SocConfig: dram_model={cfg.dram_model!r} is not one of "
                             f"{', '.join(DRAM_MODELS)}")


    def burst(self, ch, bus, nbytes, b, deliver=None):
        """Issue one burst: occupy the bus while its data crosses; the data lands `latency`
        after it crossed, in `pieces` equal parts (an AXI read streams its beats: the engine
        may start on the first ones while the last are still on the bus)."""
        env = self.env
        req = self.slot[ch].request()
        yield req
        t0 = env.now
        why = self.layer_why[b][ch]
        if self.bank is not None:
            with bus.request() as r:
                yield r
                why["bus_wait"] += env.now - t0
                base = CHANNELS.index(ch) * _REGION
                addr = self.cursor[ch]
                self.cursor[ch] = base + (addr - base + nbytes) % _REGION
                c_end, d_end, parts = self.bank.serve(addr, nbytes, ch == "output", env.now)
                for k, v in parts.items():
                    why[k] += v
                lands = self._pieces(nbytes, env.now, d_end)
                proc = env.process(self._land(ch, b, t0, req, deliver, lands))
                if c_end > env.now:
                    yield env.timeout(c_end - env.now)
        elif not self.inf:
            with bus.request() as r:
                yield r
                why["bus_wait"] += env.now - t0
                lands = self._pieces(nbytes, env.now, env.now + nbytes / self.bps)
                proc = env.process(self._land(ch, b, t0, req, deliver, lands))
                yield env.timeout(nbytes / self.bps)
                why["data"] += nbytes / self.bps
            why["latency"] += self.lat
        else:
            proc = env.process(self._land(ch, b, t0, req, deliver,
                                          [(env.now + self.lat, nbytes)]))
        self.busy[ch] += env.now - t0
        self.cbytes[ch] += nbytes
        return proc

    def _pieces(self, nbytes, start, data_end):
        """(land time, bytes) of the parts of a burst whose data crosses over [start,
        data_end]."""
        n = max(1, min(self.cfg.pieces, nbytes // 16))
        step = (data_end - start) / n
        return [(start + (i + 1) * step + self.lat, nbytes * (i + 1) // n - nbytes * i // n)
                for i in range(n)]

    def _land(self, ch, b, t0, req, deliver, lands):
        env = self.env
        for t, nb in lands:
            if t > env.now:
                yield env.timeout(t - env.now)
            if deliver is not None:
                yield deliver.put(nb)
        self.slot[ch].release(req)
        if self.record:
            self.timeline.append((ch, b, t0, env.now))

    def weights_dma(self):
        """W(j) may load once job j-2 has finished (two banks); a transfer is split in bursts."""
        for j, jb in enumerate(self.jobs):
            if j >= 2:
                yield self.job_done[j - 2]
            if jb["it"] == 0 and getattr(self.layers[jb["b"]], "mm_pack_elems", 0):
                yield self.bundle_ready[jb["b"]]   # packed from an earlier output (§22)
            last, left = None, jb["w"]
            while left > 0:
                nb = min(self.cfg.burst_bytes, left)
                last = yield self.env.process(self.burst("weights", self.rbus, nb, jb["b"]))
                left -= nb
            if last is not None:
                yield last
            self.w_loaded[j].succeed()

    def _read_stream_dma(self, ch, key, credit, data, skip_empty):
        """An M2S channel feeding the engine through its FIFO on the read bus: bursts as the
        FIFO has room, a bundle's streams only once its input is ready."""
        cap = min(self.cfg.burst_bytes, self.cfg.fifo_bytes)
        for jb in self.jobs:
            if skip_empty and not jb[key]:
                continue
            yield self.bundle_ready[jb["b"]]
            left, lastp = jb[key], None
            while left > 0:
                nb = min(cap, left)
                yield credit.get(nb)
                lastp = yield self.env.process(self.burst(ch, self.rbus, nb, jb["b"], data))
                left -= nb
            if lastp is not None:
                yield lastp

    def pixels_dma(self):
        return self._read_stream_dma("pixels", "x", self.x_credit, self.x_data, False)

    def skip_dma(self):
        """The skip stream of adding finish jobs, like the pixels (its FIFO, the read bus)."""
        return self._read_stream_dma("skip", "s", self.s_credit, self.s_data, True)

    def output_dma(self):
        for j, jb in enumerate(self.jobs):
            left, pend = jb["o"], None
            while left > 0:
                nb = min(self.cfg.burst_bytes, left, self.cfg.fifo_bytes)
                yield self.o_fifo.get(nb)
                pend = yield self.env.process(self.burst("output", self.wbus, nb, jb["b"]))
                left -= nb
            if pend is not None:
                yield pend
            self.out_done[j].succeed()

    def _wait(self, ch, b, t0, ev):
        """The engine waited from t0 until now for channel ch: the part before bundle b's input
        was ready is the firmware's (packing), the rest the DMA/DRAM's."""
        now = self.env.now
        cpu = min(max(0.0, self.ready_at[b] - t0), now - t0) if ev else 0.0
        self.stalls[ch] += now - t0
        self.layer_cpu_wait[b] += cpu
        self.layer_stalls[b][ch] += now - t0 - cpu

    def engine(self):
        env, cfg = self.env, self.cfg
        for j, jb in enumerate(self.jobs):
            b = jb["b"]
            t = env.now
            yield self.w_loaded[j]
            self._wait("weights", b, t, jb["it"] == 0 and getattr(self.layers[b], "mm_pack_elems",
                                                                  0))
            t_job = env.now
            half = max(1, cfg.fifo_bytes // 2)
            ns = max(cfg.slices, -(-jb["x"] // half), -(-jb["o"] // half), -(-jb["s"] // half))
            for xs, cs, os_, ss in zip(_split(jb["x"], ns), _split(jb["c"], ns),
                                       _split(jb["o"], ns), _split(jb["s"], ns)):
                if xs:
                    t = env.now
                    yield self.x_data.get(xs)
                    self._wait("pixels", b, t, True)
                    yield self.x_credit.put(xs)
                done_at = env.now + cs / self.f
                computing = env.timeout(cs / self.f) if cs else None
                if computing is not None and cfg.skip_after_compute:
                    yield computing
                if ss:      # the output pipeline reads the skip while the slice computes
                    yield self.s_data.get(ss)
                    yield self.s_credit.put(ss)
                if computing is not None and not computing.processed:
                    yield computing
                if ss and env.now > done_at:
                    self._wait("skip", b, done_at, True)
                if os_:
                    t = env.now
                    yield self.o_fifo.put(os_)
                    self._wait("output", b, t, False)
            if self.record:
                self.timeline.append(("engine", b, t_job, env.now))
            self.job_done[j].succeed()

    def cpu_seconds(self, jb) -> float:
        """Firmware time after job jb's output lands (CPU_PRESETS assumptions): what
        firmware/dsf_fw.c still does (architecture §17.4). A finish bundle's job `it` is
        retired while the engine runs the next job: its channel slice is unpacked and pooled
        (out_int bundles) and packed into the next bundle's pixel streams when that bundle reads
        this one; the rest waits for the bundle's last job (raw bundles' post-processing, the
        next bundle's skip stream, packing from another bundle)."""
        c, lp = self.cfg.cpu, self.layers[jb["b"]]
        if not c:
            return 0.0
        hz = c["ghz"] * 1e9
        finish = getattr(lp, "finish", False)
        nxt = self.layers[jb["b"] + 1] if jb["b"] + 1 < len(self.layers) else None
        reads_me = nxt is not None and getattr(nxt, "src", jb["b"]) == jb["b"]
        t = c["acc"] * jb["o"] / 4 / hz if lp.CP > 1 and not finish else 0.0  # partial sums
        pool = c["pool"] if lp.pool_window > 1 else 0.0
        if finish:
            co_prl = lp.mapping.CO_PRL if hasattr(lp, "mapping") else -(-lp.CO // lp.IT)
            frac = min(co_prl, lp.CO - jb["it"] * co_prl) / lp.CO   # this job's channel slice
            work = lp.core_elems * (c["unpack"] + pool) if getattr(lp, "out_int", True) else 0.0
            if reads_me:
                work += getattr(nxt, "pack_elems", lp.out_elems) * c["pack"]
            t += frac * work / hz
        if jb["last"]:
            work = 0.0 if finish else lp.core_elems * (
                c["requant"] + (c["add"] if lp.has_add else 0.0) + pool)
            if getattr(lp, "fn", ""):
                work += fn_cpu_cycles(lp, c)
            t += (c["per_bundle"] + work) / hz
            if nxt is not None and getattr(nxt, "mm_pack_elems", 0):   # its weights (§22)
                t += nxt.mm_pack_elems * c["pack"] / hz
            if nxt is not None:      # start of the next bundle: its pixel (and skip) streams
                if not (finish and reads_me):
                    t += getattr(nxt, "pack_elems", lp.out_elems) * c["pack"] / hz
                if getattr(nxt, "finish", False) and nxt.has_add and not nxt.skip_direct:
                    t += nxt.core_elems * c["skip_pack"] / hz
        return t

    def cpu(self):
        for j, jb in enumerate(self.jobs):
            yield self.out_done[j]
            t = self.cpu_seconds(jb)
            if t:
                self.layer_cpu[jb["b"]] += t
                t0 = self.env.now
                yield self.env.timeout(t)
                if self.record:
                    self.timeline.append(("cpu", jb["b"], t0, self.env.now))
            if jb["last"]:
                self.layer_end[jb["b"]] = self.env.now
                self.ready_at[jb["b"] + 1] = self.env.now
                self.bundle_ready[jb["b"] + 1].succeed()

    def run(self) -> SocResult:
        for proc in (self.weights_dma, self.pixels_dma, self.skip_dma, self.output_dma,
                     self.engine, self.cpu):
            self.env.process(proc())
        self.env.run()
        total = self.env.now
        le = self.layer_end
        layer_s = [e - (le[i - 1] if i else 0.0) for i, e in enumerate(le)]
        eng = [lp.cycles / self.f for lp in self.layers]
        return SocResult(total, 1.0 / total if total else float("inf"), layer_s, eng,
                         self.layer_cpu, self.stalls, self.cbytes, self.busy, self.timeline,
                         self.layer_stalls, self.layer_why,
                         self.bank.counters() if self.bank is not None else {},
                         self.layer_cpu_wait)


def run_soc(layers, hw, cfg: SocConfig, record_timeline=True) -> SocResult:
    """Time a network (per-layer job cycles and bytes from the cycle model) on the SoC."""
    return _Soc(layers, hw, cfg, record_timeline).run()
