"""How long a simulation of an export may run before it is called hung.

A fixed budget is wrong at both ends: 200 M cycles is hours of RTL for a model that needs 20 k,
and too little for a ResNet-50 at handshake probability 0.01. Both budgets are derived instead
from what the export must move and compute (architecture §11.5):

- `expected_cycles`: every job's beats (weights, pixels, skip, output) at one handshake per
  1/(valid_prob·ready_prob) cycles plus its MAC beats XN·XL·XW·(CM·KH + 1), all in series — an
  upper estimate (the real system overlaps transfers with compute);
- `max_cycles` = 8 × that + 1 M: a run past it is stuck in a loop, not slow;
- `watchdog` (cycles with no handshake, DMA event or firmware command) = 200 k + 60 expected
  handshake gaps: a quiet stretch longer than 60 gaps has probability < e^-60 when nothing is
  wrong.
"""
from __future__ import annotations

import math

BASE_WATCHDOG = 200_000
MAX_FACTOR = 8
MAX_SLACK = 1_000_000


NEVER = 1 << 62


def expected_cycles(manifest: dict, hw, valid_prob: float, ready_prob: float) -> int | None:
    """None when a probability is 0 (a side that never fires: only the watchdog can end it)."""
    if float(valid_prob) * float(ready_prob) <= 0:
        return None
    B, rows = hw.AXI_BYTES, hw.ROWS
    per_beat = 1.0 / (float(valid_prob) * float(ready_prob))
    total = 0.0
    for bm in manifest["bundles"]:
        parts, passes = bm["parts"], bm["passes"]
        for j in bm["jobs"]:
            g, pr = j["geometry"], passes[j["p"]]
            out = parts[j["part"]]["out_bytes"]
            skip = parts[0]["out_bytes"] if g.get("add") and g.get("finish") else 0
            beats = sum(math.ceil(n / B) for n in (pr["w_bytes"], pr["pix_bytes"], out, skip))
            macs = g["XN"] * math.ceil(g["XH"] / rows) * g["XW"] * (g["CM"] * g["KH"] + 1)
            total += beats * per_beat + macs + 64
    return int(math.ceil(total))


def limits(manifest: dict, hw, valid_prob: float, ready_prob: float) -> dict:
    """{"expected_cycles", "max_cycles", "watchdog"} for one run of the export."""
    e = expected_cycles(manifest, hw, valid_prob, ready_prob)
    if e is None:
        return {"expected_cycles": None, "max_cycles": NEVER, "watchdog": BASE_WATCHDOG}
    gap = 1.0 / (float(valid_prob) * float(ready_prob))
    return {"expected_cycles": e, "max_cycles": MAX_FACTOR * e + MAX_SLACK,
            "watchdog": BASE_WATCHDOG + int(math.ceil(60 * gap))}
