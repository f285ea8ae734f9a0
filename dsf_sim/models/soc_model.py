"""SoC / DRAM model (simpy) around the engine's cycle-model timing (docs/performance.md §4).

Inputs per job (global firmware order bundle -> it -> p): the engine's cycles with ideal streams
(from the cycle model, `dsf_sim.bench.simulate`) and the bytes of its three streams. simpy decides
when each channel's data is delivered:

* DRAM: `bw_gbs` GB/s, `latency_ns` per burst (pipelined: up to `outstanding` bursts in flight per
  channel), one shared data bus for reads and writes (`rw_shared=True`) or one bus per direction.
  A burst of `burst_bytes` occupies its bus for bytes / bandwidth.
* DMA channels 0 pixels (M2S), 1 weights (M2S), 2 output (S2M). M2S channels may only issue a burst
  when the channel FIFO (`fifo_bytes`) has room for it; S2M drains the engine's output FIFO.
* Engine: job j starts when its weights are in a bank (two banks: W(j) may load once job j-2 has
  finished) and runs in max(`slices`, bytes / (fifo_bytes/2)) equal slices of (cycles_j / slices) each; slice k first takes its
  share of the pixel bytes from the pixel FIFO and then puts its share of output bytes into the
  output FIFO (blocking when full). With ideal DRAM every wait is zero and the time is exactly the
  engine-only time.
* Firmware CPU (optional `cpu`): after a job's output transfer, a single core accumulates passes
  (`acc` cycles/element when CP > 1); at a bundle's end it runs requantise/activation (+ residual
  add), pool and the packing of the next bundle's pixel columns. The next bundle's pixel DMA waits
  for it. Numbers are assumptions (CPU_PRESETS).

Limits: DRAM is a bandwidth/latency server (no banks, refresh, page misses or read/write turnaround);
CPU memory traffic is not put on the DRAM bus; the engine's fine-grained stall pattern inside a
job is approximated by `slices` slices (exact at both ends: ideal memory and fully memory-bound).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import simpy

DRAM_PRESETS = {
    # name: (GB/s, latency ns, read/write share one bus)
    "ideal": dict(bw_gbs=float("inf"), latency_ns=0.0, rw_shared=True),
    "ddr4-2400": dict(bw_gbs=19.2, latency_ns=80.0, rw_shared=True),        # 64-bit DDR4-2400
    "lpddr4-3200": dict(bw_gbs=12.8, latency_ns=100.0, rw_shared=True),     # 32-bit LPDDR4-3200
    "zcu104-ps": dict(bw_gbs=19.2, latency_ns=120.0, rw_shared=True),       # PS DDR4-2666 via HP ports, shared
}

CPU_PRESETS = {
    "none": None,
    # Cortex-A53 @ 1.2 GHz, one core, NEON; cycles per element (assumptions, docs/performance.md)
    "a53": dict(ghz=1.2, acc=0.5, requant=1.5, add=1.0, pool=0.5, pack=1.0, per_bundle=20000),
}


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

    @classmethod
    def preset(cls, dram="ideal", cpu="none", **kw):
        d = dict(DRAM_PRESETS[dram]) if isinstance(dram, str) else dict(dram)
        d.update(kw)
        return cls(cpu=CPU_PRESETS[cpu] if isinstance(cpu, str) else cpu, **d)


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

    def memory_bound(self, tol=0.02):
        return [ls > le * (1 + tol) for ls, le in zip(self.layer_s, self.layer_engine_s)]


def _split(total, n):
    """Integer shares of `total` over n slices (cumulative, exact)."""
    return [total * (k + 1) // n - total * k // n for k in range(n)]


def run_soc(layers, hw, cfg: SocConfig, record_timeline=True) -> SocResult:
    env = simpy.Environment()
    f = hw.frequency_mhz * 1e6
    inf = cfg.bw_gbs == float("inf")
    bps = cfg.bw_gbs * 1e9
    lat = cfg.latency_ns * 1e-9
    rbus = simpy.Resource(env, 1)
    wbus = rbus if cfg.rw_shared else simpy.Resource(env, 1)

    jobs = []  # (bundle, cycles, wbytes, xbytes, obytes, CP)
    for li, lp in enumerate(layers):
        for j, (c, (wb, xb, ob)) in enumerate(zip(lp.job_cycles, lp.job_bytes)):
            jobs.append(dict(b=li, c=c, w=wb, x=xb, o=ob, last=(j == len(lp.job_cycles) - 1)))
    n = len(jobs)
    w_loaded = [env.event() for _ in range(n)]
    job_done = [env.event() for _ in range(n)]
    out_done = [env.event() for _ in range(n)]
    bundle_ready = [env.event() for _ in range(len(layers) + 1)]  # input of bundle b available
    bundle_ready[0].succeed()
    x_credit = simpy.Container(env, capacity=cfg.fifo_bytes, init=cfg.fifo_bytes)
    x_data = simpy.Container(env, capacity=10**15, init=0)
    o_fifo = simpy.Container(env, capacity=cfg.fifo_bytes, init=0)
    stalls = {"weights": 0.0, "pixels": 0.0, "output": 0.0}
    cbytes = {"pixels": 0, "weights": 0, "output": 0}
    busy = {"pixels": 0.0, "weights": 0.0, "output": 0.0}
    timeline = []
    layer_end = [0.0] * len(layers)
    layer_cpu = [0.0] * len(layers)
    slot = {"pixels": simpy.Resource(env, cfg.outstanding), "weights": simpy.Resource(env, cfg.outstanding),
            "output": simpy.Resource(env, cfg.outstanding)}

    def burst(ch, bus, nbytes, b, deliver=None):
        """Issue one burst: occupy the bus, then data arrives after the latency."""
        req = slot[ch].request()
        yield req
        t0 = env.now
        if not inf:
            with bus.request() as r:
                yield r
                yield env.timeout(nbytes / bps)
        busy[ch] += env.now - t0
        cbytes[ch] += nbytes

        def land():
            if lat:
                yield env.timeout(lat)
            if deliver is not None:
                yield deliver.put(nbytes)
            slot[ch].release(req)
            if record_timeline:
                timeline.append((ch, b, t0, env.now))
        return env.process(land())

    def transfer(ch, bus, total, b, deliver=None, credit=None):
        """M2S transfer split into bursts; returns when the last burst has landed."""
        last = None
        left = total
        while left > 0:
            nb = min(cfg.burst_bytes, left)
            if credit is not None:
                yield credit.get(nb)
            last = yield env.process(burst(ch, bus, nb, b, deliver))
            left -= nb
        if last is not None:
            yield last

    def weights_dma():
        for j, jb in enumerate(jobs):
            if j >= 2:
                yield job_done[j - 2]
            yield env.process(transfer("weights", rbus, jb["w"], jb["b"]))
            w_loaded[j].succeed()

    def pixels_dma():
        for j, jb in enumerate(jobs):
            yield bundle_ready[jb["b"]]
            cap = min(cfg.burst_bytes, cfg.fifo_bytes)
            left = jb["x"]
            lastp = None
            while left > 0:
                nb = min(cap, left)
                yield x_credit.get(nb)
                lastp = yield env.process(burst("pixels", rbus, nb, jb["b"], x_data))
                left -= nb
            if lastp is not None:
                yield lastp

    def output_dma():
        for j, jb in enumerate(jobs):
            left = jb["o"]
            pend = None
            while left > 0:
                nb = min(cfg.burst_bytes, left, cfg.fifo_bytes)
                yield o_fifo.get(nb)
                pend = yield env.process(burst("output", wbus, nb, jb["b"]))
                left -= nb
            if pend is not None:
                yield pend
            out_done[j].succeed()

    def engine():
        for j, jb in enumerate(jobs):
            t = env.now
            yield w_loaded[j]
            stalls["weights"] += env.now - t
            half = max(1, cfg.fifo_bytes // 2)
            ns = max(cfg.slices, -(-jb["x"] // half), -(-jb["o"] // half))
            xs = _split(jb["x"], ns)
            os_ = _split(jb["o"], ns)
            cs = _split(jb["c"], ns)
            for k in range(ns):
                if xs[k]:
                    t = env.now
                    yield x_data.get(xs[k])
                    stalls["pixels"] += env.now - t
                    yield x_credit.put(xs[k])
                if cs[k]:
                    yield env.timeout(cs[k] / f)
                if os_[k]:
                    t = env.now
                    yield o_fifo.put(os_[k])
                    stalls["output"] += env.now - t
            job_done[j].succeed()

    def cpu():
        c = cfg.cpu
        hz = c["ghz"] * 1e9 if c else 1.0
        for j, jb in enumerate(jobs):
            yield out_done[j]
            lp = layers[jb["b"]]
            t = 0.0
            if c and lp.CP > 1:  # accumulate this job's partial sums
                t += c["acc"] * jb["o"] / 4 / hz
            if jb["last"]:
                if c:
                    e = lp.core_elems
                    t += (c["per_bundle"] + e * (c["requant"] + (c["add"] if lp.has_add else 0.0)
                          + (c["pool"] if lp.pool_window > 1 else 0.0))
                          + lp.out_elems * c["pack"]) / hz
            if t:
                layer_cpu[jb["b"]] += t
                yield env.timeout(t)
            if jb["last"]:
                layer_end[jb["b"]] = env.now
                bundle_ready[jb["b"] + 1].succeed()

    for p in (weights_dma, pixels_dma, output_dma, engine, cpu):
        env.process(p())
    env.run()
    total = env.now
    layer_s = [e - (layer_end[i - 1] if i else 0.0) for i, e in enumerate(layer_end)]
    eng = [lp.cycles / f for lp in layers]
    return SocResult(total, 1.0 / total if total else float("inf"), layer_s, eng, layer_cpu,
                     stalls, cbytes, busy, timeline)
