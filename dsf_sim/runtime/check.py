"""What a firmware run left behind, and its exact comparison with the export's expected files.

Every harness (functional ctypes run, digital twin, Verilator system testbench) produces a
`FirmwareRun`; `compare_run` checks it level by level in dataflow order and names the first
difference (bundle / pass / iteration, index, both values).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import MismatchError


@dataclass
class FirmwareRun:
    export_dir: str
    memory_map: dict
    commands: list                                  # dicts: dma / wait / done, plus "event" dicts
    output: np.ndarray                              # final int32 output (flat)
    softmax: np.ndarray | None
    bundle_outputs: list                            # int32 flat per bundle (None: not written)
    packed_inputs: list                             # [bundle][pass] -> bytes
    raw_streams: dict = field(default_factory=dict)  # (bundle, it, p) -> bytes
    skip_streams: dict = field(default_factory=dict)  # (bundle, it) -> bytes (when recorded)

    def dump_jsonl(self, path: str, include_events: bool = True):
        with open(path, "w") as f:
            for c in self.commands:
                if include_events or c.get("cmd") != "event":
                    f.write(json.dumps(c) + "\n")


def _first_diff_flat(exp, got):
    d = np.flatnonzero(exp != got)
    i = int(d[0])
    return i, exp.flat[i], got.flat[i], len(d)


def compare_run(run: FirmwareRun, hw, manifest: dict, softmax_tol: float = 1e-9):
    """Compare in dataflow order: per bundle packed inputs, skip streams (where the harness
    recorded them), engine output streams (raw sums or finished words), the int32 output where
    the firmware writes one; then the final output and softmax."""
    from ..compiler import binfile
    from ..compiler.layout import unpack_words
    d = run.export_dir
    chash = binfile.manifest_hash(manifest, d)

    def load(path, kind):
        return binfile.read(path, kind, chash)
    for bm in manifest["bundles"]:
        b = bm["idx"]
        bdir = os.path.join(d, f"b{b:02d}")
        for p, got in enumerate(run.packed_inputs[b]):
            exp = load(os.path.join(bdir, f"in_p{p}.bin"), "pixels")
            g = np.frombuffer(got, dtype=np.uint8)
            if exp.size != g.size:
                raise MismatchError(f"bundle {b} pass {p} packed input: {g.size} bytes, expected "
                                    f"{exp.size}")
            if not np.array_equal(exp, g):
                i, e, v, n = _first_diff_flat(exp, g)
                raise MismatchError(f"bundle {b} pass {p} packed input: {n} bytes differ; first at "
                                    f"byte {i} (beat {i // hw.AXI_BYTES}): expected {e}, firmware "
                                    f"{v}")
        for jm in bm["jobs"]:
            it, p = jm["it"], jm["p"]
            key = (b, it, p)
            if (b, it) in run.skip_streams:
                exp = load(os.path.join(bdir, f"skip_it{it}.bin"), "skip")
                g = np.frombuffer(run.skip_streams[(b, it)], dtype=np.uint8)
                if exp.size != g.size or not np.array_equal(exp, g):
                    n = int(np.sum(exp != g)) if exp.size == g.size else -1
                    first = int(np.flatnonzero(exp != g)[0]) if n > 0 else -1
                    raise MismatchError(f"bundle {b} iteration {it} skip stream: "
                                        + (f"{g.size} bytes, expected {exp.size}" if n < 0 else
                                           f"{n} bytes differ; first at byte {first} (beat "
                                           f"{first // hw.AXI_BYTES}): expected {exp[first]}, "
                                           f"firmware {g[first]}"))
            exp = load(os.path.join(bdir, f"raw_it{it}_p{p}.bin"), "raw")
            if key not in run.raw_streams:
                raise MismatchError(f"bundle {b} pass {p} iteration {it}: no engine output")
            g = np.frombuffer(run.raw_streams[key], dtype=np.uint8)
            tail = exp.size - g.size
            if 0 < tail < hw.AXI_BYTES and not exp[g.size:].any():
                # a DMA moves only the kept bytes of the TLAST beat; the rest is padding
                # (architecture §3)
                g = np.concatenate([g, np.zeros(tail, dtype=np.uint8)])
            if exp.size != g.size:
                raise MismatchError(f"bundle {b} pass {p} iteration {it} raw output: {g.size} "
                                    f"bytes, expected {exp.size}")
            if not np.array_equal(exp, g):
                fin = bool(jm["geometry"].get("finish"))
                bits = hw.X_BITS if fin else hw.Y_OUT_BITS
                ew, gw = unpack_words(exp, bits, not fin), unpack_words(g, bits, not fin)
                i, e, v, n = _first_diff_flat(ew, gw)
                kind = "finished" if jm["geometry"].get("finish") else "raw"
                raise MismatchError(f"bundle {b} pass {p} iteration {it} {kind} output: {n} words "
                                    f"differ; first at word {i}: expected {e}, engine {v}")
        got = run.bundle_outputs[b]
        if got is None:          # stays as finished words; they were compared above
            continue
        exp = load(os.path.join(bdir, "out.bin"), "bundle_out")
        if exp.size != got.size:
            raise MismatchError(f"bundle {b} output: {got.size} words, expected {exp.size}")
        if not np.array_equal(exp, got):
            i, e, v, n = _first_diff_flat(exp, got)
            idx = np.unravel_index(i, tuple(bm["out_shape"]))
            raise MismatchError(f"bundle {b} output: {n} values differ; first at flat index {i} "
                                f"{tuple(int(t) for t in idx)}: expected {e}, firmware {v}")
    exp = load(os.path.join(d, "expected.bin"), "expected")
    if not np.array_equal(exp, run.output):
        i, e, v, n = _first_diff_flat(exp, run.output)
        raise MismatchError(f"final output: {n} values differ; first at {i}: expected {e}, "
                            f"firmware {v}")
    sp = os.path.join(d, "expected_softmax.bin")
    if os.path.exists(sp) and manifest["bundles"][-1]["descriptor"].get("softmax_frac", 0):
        exp = load(sp, "softmax_int")            # the integer softmax: exact (architecture §21)
        if run.softmax is None or run.softmax.shape != exp.shape:
            raise MismatchError("final integer softmax missing or wrong size")
        if not np.array_equal(exp, run.softmax):
            i, e, v, n = _first_diff_flat(exp, run.softmax)
            raise MismatchError(f"final integer softmax: {n} values differ; first at {i}: "
                                f"expected {e}, firmware {v}")
    elif os.path.exists(sp):
        exp = load(sp, "softmax")
        if run.softmax is None or run.softmax.shape != exp.shape:
            raise MismatchError("final softmax missing or wrong size")
        err = float(np.max(np.abs(exp - run.softmax)))
        if err > softmax_tol:
            raise MismatchError(f"final softmax differs by {err} > tol {softmax_tol}")
    return True
