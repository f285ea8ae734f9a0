"""The points of a sweep (grid or seeded random) and the hashes that name their work.

Why hashes: each point's result is stored under the sha256 of everything it depends on (the
resolved hardware configuration, the network's identity, the DRAM/CPU setting, the mode and the
simulator version, which includes a hash of every dsf_sim source), so a re-run finds what is
already done, and any change to an input or to the simulator invalidates exactly what it
affects. Three kinds of work, three keys:

* engine_key: the cycle simulation of (hardware, network, mode) -- independent of DRAM;
* key: one point = engine_key + DRAM + CPU (the cheap SoC-model step);
* synth_key: yosys on a hardware configuration (+ RTL sources, yosys version).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path

from ..errors import DsfError
from .spec import Dram, Network, Spec

PKG = Path(__file__).resolve().parents[1]


def canonical(obj) -> str:
    """JSON with sorted keys and no spaces: the same value always hashes the same."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=list)


def sha(obj) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def simulator_version() -> str:
    """dsf_sim's version + a hash of every dsf_sim source: an edit invalidates the cache.
    Computed once per process, so one sweep uses one version throughout."""
    from .. import __version__
    from ..runtime.build_cache import digest
    files = sorted(PKG.rglob("*.py"))
    return f"{__version__}+{digest(files, names=[str(p.relative_to(PKG)) for p in files])[:16]}"


@functools.lru_cache(maxsize=1)
def synth_version() -> str:
    """What a yosys estimate depends on besides the configuration: the RTL, the generator of
    its configuration package, the yosys script and the yosys version."""
    from ..assets import asset_dir
    from ..runtime.build_cache import digest, tool_version
    rtl = sorted(Path(asset_dir("rtl")).glob("*.sv"))
    files = rtl + [PKG / "compiler" / "rtl_config.py", PKG / "flows" / "synth_estimate.py"]
    return digest(files, extra=[tool_version(["yosys", "-V"])])[:16]


@dataclass
class Point:
    """One (network, hardware, DRAM) point. `hw` is the resolved configuration (a dict), or None
    with `infeasible` naming why the parameters do not make a valid configuration."""
    network: Network
    params: dict
    dram: Dram
    hw: dict | None
    infeasible: str | None
    key: str
    engine_key: str
    synth_key: str | None


def resolve_hw(base_path: str, params: dict) -> dict:
    """The base configuration with `params` applied (`bits` as `dsf bench --bits`); raises the
    configuration's named HardwareError when the combination is not valid."""
    from ..compiler.hardware import Hardware
    from ..perf.report import load_hw
    params = dict(params)
    hw = load_hw(base_path, params.pop("bits", None))
    d = hw.to_dict()
    d.update(params)
    return Hardware.from_dict(d).to_dict()


def network_identity(net: Network, seed: int) -> dict:
    """What names a network in a key: a built-in's name and sizes, a file's content hash."""
    if net.kind == "builtin":
        from ..api.networks import DEFAULT_SIZE
        return dict(builtin=net.source, input_size=net.input_size or DEFAULT_SIZE[net.source],
                    batch=net.batch, seed=seed)
    from ..runtime.build_cache import digest
    return dict(file=Path(net.source).name, sha256=digest([net.source]),
                input_size=net.input_size, batch=net.batch, seed=seed)


def combos(spec: Spec) -> list:
    """Parameter dicts: the whole grid, or `n` of its points drawn with the spec's seed."""
    names = list(spec.parameters)
    lists = [spec.parameters[n] for n in names]
    total = 1
    for v in lists:
        total *= len(v)
    if spec.sample["kind"] == "grid":
        return [dict(zip(names, vals)) for vals in itertools.product(*lists)]
    idx = sorted(random.Random(spec.sample["seed"]).sample(range(total),
                                                           min(spec.sample["n"], total)))
    out = []
    for i in idx:       # mixed-radix decode, last parameter fastest (as itertools.product)
        vals = []
        for v in reversed(lists):
            vals.append(v[i % len(v)])
            i //= len(v)
        out.append(dict(zip(names, reversed(vals))))
    return out


def expand(spec: Spec) -> list:
    """Every point of the sweep, with its keys."""
    version = simulator_version()
    sv = synth_version() if spec.synth != "none" else None
    ids = {id(n): network_identity(n, spec.seed) for n in spec.networks}
    points = []
    for params in combos(spec):
        try:
            hw, why = resolve_hw(spec.hardware, params), None
        except DsfError as e:
            hw, why = None, f"hardware: {e}"
        for net in spec.networks:
            ek = sha(dict(hw=hw if hw is not None else params, net=ids[id(net)], mode=spec.mode,
                          version=version))
            sk = (sha(dict(hw=hw, target=spec.synth, family=spec.family, version=sv))
                  if sv and hw is not None else None)
            for dram in spec.dram:
                key = sha(dict(engine=ek, dram=dram.config, cpu=spec.cpu))
                points.append(Point(net, params, dram, hw, why, key, ek, sk))
    keys = [p.key for p in points]
    if len(set(keys)) != len(keys):
        raise DsfError("sweep spec: the parameters give repeated points (the same hardware, "
                       "network and DRAM twice): allowed distinct points")
    return points
