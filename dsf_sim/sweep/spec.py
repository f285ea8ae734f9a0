"""A sweep specification (YAML) read and checked before any work starts.

Why so strict: a sweep runs for minutes to hours on a cluster; a typo found after the first
hundred points (an unknown key silently ignored, a parameter that is not a hardware parameter)
wastes all of them. Every mistake is a DsfError naming the key, the value and what is allowed.

    networks: [resnet50, {network: alexnet, input_size: 32, batch: 1}, my_model.py, net.h5]
    hardware: configs/kraken.json          # the base configuration every point starts from
    parameters:                            # hardware parameter -> values (or {from, to, step})
      processing_elements: [[4, 32], [7, 96]]
      bits: [4, 8]                         # bits_input = bits_weights (sums widened as dsf bench)
    sample: grid                           # or {random: N, seed: S}: N points of the grid
    dram: [6.4, 12.8, ddr4-2400, {bw_gbs: 19.2, latency_ns: 80}]   # GB/s or presets
    cpu: none                              # firmware CPU model (soc_model.CPU_PRESETS)
    mode: timing                           # timing (cycle model) | exact (+ bit-exact twin run)
    synth: none                            # none | generic | xilinx (yosys, per configuration)
    family: xcup                           # synth_xilinx family (synth: xilinx)
    workers: 2                             # embedded LocalCluster size (unused with --scheduler)
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from ..errors import DsfError
from ..values import allowed_keys_text, is_int

KEYS = ("networks", "hardware", "parameters", "sample", "dram", "cpu", "mode", "synth",
        "family", "seed", "workers", "synth_timeout_s", "metrics")
REQUIRED = ("networks", "hardware")
MODES = ("timing", "exact")
SYNTHS = ("none", "generic", "xilinx")
NET_KEYS = ("network", "input_size", "batch")
MODEL_SUFFIXES = (".py", ".h5", ".keras")
# parameters a sweep may not vary: they do not change the hardware (paths, names, handshakes)
NOT_SWEPT = ("data_dir", "tb_module", "valid_prob", "ready_prob", "config_baseaddr")
DEFAULT_LATENCY_NS = 80.0
METRICS = ("fps", "engine_fps", "time_ms", "utilisation", "dram_bytes", "dram_gbs_needed",
           "memory_bound_layers", "pes", "ram_bits", "macs", "cycles", "bit_exact",
           "twin_cycles")


@dataclass
class Network:
    """One network of the sweep: a built-in name or a model file (absolute path)."""
    source: str                 # built-in name or absolute path
    kind: str                   # builtin | file | keras
    input_size: int | None = None
    batch: int = 1

    @property
    def label(self) -> str:
        base = self.source if self.kind == "builtin" else os.path.basename(self.source)
        return base + (f"@{self.input_size}" if self.input_size else "") + (
            f"x{self.batch}" if self.batch != 1 else "")


@dataclass
class Dram:
    """One DRAM setting: a preset name or a bandwidth (GB/s) with its latency."""
    name: str
    config: dict = field(default_factory=dict)   # SocConfig.preset's dram argument


@dataclass
class Spec:
    networks: list
    hardware: str
    parameters: dict
    sample: dict
    dram: list
    cpu: str = "none"
    mode: str = "timing"
    synth: str = "none"
    family: str = "xcup"
    seed: int = 0
    workers: int | None = None
    synth_timeout_s: float = 3600.0
    metrics: list = field(default_factory=lambda: list(METRICS))
    path: str = ""


def _err(key, value, allowed):
    return DsfError(f"sweep spec: {key} = {value!r} is invalid: allowed {allowed}")


def load_spec(path: str) -> Spec:
    """Read and validate a YAML sweep spec (module docstring)."""
    import yaml
    if not os.path.isfile(path):
        raise _err("spec file", path, "an existing YAML file")
    with open(path) as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise _err("spec file", path, f"valid YAML ({str(e).splitlines()[0]})") from None
    return parse_spec(data, base_dir=os.path.dirname(os.path.abspath(path)), path=path)


def parse_spec(data, base_dir: str = ".", path: str = "") -> Spec:
    """A Spec from the YAML's mapping; relative paths are taken from `base_dir` (the spec's
    folder), then from the current folder."""
    if not isinstance(data, dict):
        raise _err("spec", type(data).__name__, "a mapping of " + str(list(KEYS)))
    for k in data:
        if k not in KEYS:
            raise _err(f"key {k!r}", data[k], allowed_keys_text(k, KEYS))
    for k in REQUIRED:
        if k not in data:
            raise _err(f"key {k!r}", None, "present (required)")
    s = Spec(networks=_networks(data["networks"], base_dir),
             hardware=_hardware_path(data["hardware"], base_dir),
             parameters=_parameters(data.get("parameters", {})),
             sample=_sample(data.get("sample", "grid")),
             dram=_dram_list(data.get("dram", ["ideal"])), path=path)
    s.cpu = _choice("cpu", data.get("cpu", "none"), _cpus())
    s.mode = _choice("mode", data.get("mode", "timing"), MODES)
    s.synth = _choice("synth", data.get("synth", "none"), SYNTHS)
    s.family = _family(data.get("family", "xcup"))
    s.seed = _int("seed", data.get("seed", 0), 0)
    s.workers = None if data.get("workers") is None else _int("workers", data["workers"], 1)
    s.synth_timeout_s = _number("synth_timeout_s", data.get("synth_timeout_s", 3600.0))
    s.metrics = _metrics(data.get("metrics", list(METRICS)))
    _check_base(s)
    return s


def _cpus():
    from ..models.soc_model import CPU_PRESETS
    return tuple(sorted(CPU_PRESETS))


def _choice(key, v, allowed):
    if v not in allowed:
        raise _err(key, v, f"one of {list(allowed)}")
    return v


def _int(key, v, lo):
    if not is_int(v) or v < lo:
        raise _err(key, v, f"an integer >= {lo}")
    return v


def _number(key, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < math.inf):
        raise _err(key, v, "a finite number > 0")
    return float(v)


def _family(v):
    from ..flows.synth_estimate import ALIASES, FAMILIES
    if v not in FAMILIES and v not in ALIASES:
        raise _err("family", v, f"one of {list(FAMILIES) + sorted(ALIASES)}")
    return ALIASES.get(v, v)


def _metrics(v):
    if not isinstance(v, list) or not v:
        raise _err("metrics", v, f"a non-empty list of {list(METRICS)}")
    for m in v:
        if m not in METRICS:
            raise _err("metrics", m, allowed_keys_text(m, METRICS))
    return list(v)


def _resolve_path(p, base_dir):
    """A relative path as the spec's folder sees it, else as the current folder does."""
    cand = p if os.path.isabs(p) else os.path.join(base_dir, p)
    return os.path.abspath(cand if os.path.exists(cand) else p)


def _networks(v, base_dir):
    if not isinstance(v, list) or not v:
        raise _err("networks", v, "a non-empty list of network names, model files or mappings "
                                  f"with keys {list(NET_KEYS)}")
    return [_network(item, base_dir) for item in v]


def _network(item, base_dir):
    from ..api.networks import NETWORKS
    d = item if isinstance(item, dict) else {"network": item}
    for k in d:
        if k not in NET_KEYS:
            raise _err(f"networks[].{k}", d[k], allowed_keys_text(k, NET_KEYS))
    name = d.get("network")
    if not isinstance(name, str) or not name:
        raise _err("networks[].network", name, f"a built-in name {sorted(NETWORKS)} or a model "
                                               f"file ending in {list(MODEL_SUFFIXES)}")
    size = d.get("input_size")
    if size is not None:
        size = _int("networks[].input_size", size, 1)
    batch = _int("networks[].batch", d.get("batch", 1), 1)
    if name.endswith(MODEL_SUFFIXES):
        path = _resolve_path(name, base_dir)
        if not os.path.isfile(path):
            raise _err("networks[].network", name, "an existing model file (it does not exist)")
        fixed = ["input_size"] + (["batch"] if name.endswith(".py") else [])
        for k in fixed:         # the file decides them: a value here would be ignored
            if k in d:
                raise _err(f"networks[].{k}", d[k], f"absent for {name} (the model file fixes "
                                                    f"it; only built-in networks take it)")
        return Network(path, "file" if name.endswith(".py") else "keras", size, batch)
    if name not in NETWORKS:
        raise _err("networks[].network", name, f"one of {sorted(NETWORKS)} or a model file "
                                               f"ending in {list(MODEL_SUFFIXES)}")
    return Network(name, "builtin", size, batch)


def _hardware_path(v, base_dir):
    from ..assets import config_path
    if not isinstance(v, str) or not v:
        raise _err("hardware", v, "a hardware.json path or a configs/ name such as kraken")
    p = _resolve_path(v, base_dir)
    p = p if os.path.isfile(p) else config_path(v)
    if not os.path.isfile(p):
        raise _err("hardware", v, "an existing hardware.json path or a configs/ name")
    return os.path.abspath(p)


def sweepable():
    """Hardware parameters a sweep may vary: every Hardware argument that changes the engine,
    plus `bits` (bits_input = bits_weights, as `dsf bench --bits`)."""
    from ..compiler.hardware import _ARGS
    return ("bits",) + tuple(a for a in _ARGS if a not in NOT_SWEPT)


def _parameters(v):
    if not isinstance(v, dict):
        raise _err("parameters", v, "a mapping of hardware parameter -> list of values")
    allowed = sweepable()
    out = {}
    for k, vals in v.items():
        if k not in allowed:
            raise _err(f"parameters.{k}", vals, allowed_keys_text(k, allowed))
        out[k] = _values(f"parameters.{k}", vals)
    if "bits" in out and ({"bits_input", "bits_weights"} & set(out)):
        raise _err("parameters.bits", out["bits"], "not together with bits_input / bits_weights")
    return out


def _values(key, vals):
    """A list of values, or {from, to, step} (inclusive, numbers)."""
    if isinstance(vals, dict):
        extra = sorted(set(vals) - {"from", "to", "step"})
        if extra or not {"from", "to"} <= set(vals):
            raise _err(key, vals, "a list of values or {from: A, to: B, step: S}")
        lo, hi, step = vals["from"], vals["to"], vals.get("step", 1)
        for n, x in (("from", lo), ("to", hi), ("step", step)):
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise _err(f"{key}.{n}", x, "a number")
        if step <= 0:
            raise _err(f"{key}.step", step, "a number > 0")
        n = int(math.floor((hi - lo) / step + 1e-9)) + 1
        vals = [lo + i * step for i in range(max(0, n))]
        vals = [int(x) if all(is_int(y) for y in (lo, step)) else x for x in vals]
    if not isinstance(vals, list) or not vals:
        raise _err(key, vals, "a non-empty list of values (or a non-empty {from, to, step})")
    if len(set(map(repr, vals))) != len(vals):
        raise _err(key, vals, "a list without repeated values")
    return vals


def _sample(v):
    if v == "grid":
        return {"kind": "grid"}
    if isinstance(v, dict) and set(v) <= {"random", "seed"} and "random" in v:
        n = _int("sample.random", v["random"], 1)
        return {"kind": "random", "n": n, "seed": _int("sample.seed", v.get("seed", 0), 0)}
    raise _err("sample", v, "'grid' or {random: N, seed: S}")


def _dram_list(v):
    from ..models.soc_model import DRAM_PRESETS
    v = v if isinstance(v, list) else [v]
    if not v:
        raise _err("dram", v, "a non-empty list of GB/s values, presets or {bw_gbs, latency_ns}")
    out = []
    for item in v:
        if isinstance(item, str):
            if item not in DRAM_PRESETS:
                raise _err("dram", item, f"one of {sorted(DRAM_PRESETS)}, a GB/s number or "
                                         f"{{bw_gbs, latency_ns}}")
            out.append(Dram(item, {"preset": item}))
            continue
        d = item if isinstance(item, dict) else {"bw_gbs": item}
        extra = sorted(set(d) - {"bw_gbs", "latency_ns"})
        if extra or "bw_gbs" not in d:
            raise _err("dram", item, "a GB/s number, a preset or {bw_gbs: GB/s, latency_ns: ns}")
        bw = _number("dram.bw_gbs", d["bw_gbs"])
        lat = d.get("latency_ns", DEFAULT_LATENCY_NS)
        if isinstance(lat, bool) or not isinstance(lat, (int, float)) or not 0 <= lat < math.inf:
            raise _err("dram.latency_ns", lat, "a finite number >= 0")
        out.append(Dram(f"{bw:g}GB/s", {"bw_gbs": bw, "latency_ns": float(lat),
                                        "rw_shared": True}))
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise _err("dram", names, "a list without repeated settings")
    return out


def _check_base(s: Spec):
    """The base configuration must itself be valid (a named HardwareError otherwise)."""
    from ..compiler.hardware import Hardware
    try:
        Hardware.from_json(s.hardware)
    except DsfError as e:
        raise _err("hardware", s.hardware, f"a valid configuration ({e})") from None
