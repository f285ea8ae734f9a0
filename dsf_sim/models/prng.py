"""The handshake PRNG of architecture §5, once for Python and numba.

One xorshift32 per channel (0 pixels valid, 1 weights valid, 2 output ready, 3 skip valid),
stepped once at the
start of every cycle; the draw is `state < threshold` with the threshold of
`compiler.hardware.prob_threshold` (2^32 for p >= 1: always true). The C++ harnesses (rtl/tb/
tb_common.h) get the seeded states and thresholds computed here on their command line, so this
file and tb_common.h's step are the only implementations.
"""
from __future__ import annotations

import numpy as np

from ..compiler.hardware import prob_threshold
from .jit import jit

MASK32 = 0xFFFFFFFF
N_CHANNELS = 4


@jit(inline=True)
def xorshift32(s):
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    return s


def seed_state(seed: int, ch: int) -> int:
    """Initial state of channel `ch` for a run seed (never 0)."""
    s = ((int(seed) & MASK32) * 2654435761 + (ch + 1) * 40503) & MASK32
    return s if s else 1


def setup(seed: int, valid_prob: float, ready_prob: float):
    """(seed32, states int64[4], thresholds int64[4]) for channels 0 pixels, 1 weights, 2 output,
    3 skip."""
    probs = (valid_prob, valid_prob, ready_prob, valid_prob)
    states = np.array([seed_state(seed, ch) for ch in range(N_CHANNELS)], np.int64)
    thr = np.array([prob_threshold(p) for p in probs], np.int64)
    return int(seed) & MASK32, states, thr


class Prng:
    """Plain-Python stepping of the generators (the pyverilator harness)."""

    def __init__(self, seed, valid_prob, ready_prob):
        _, s, t = setup(seed, valid_prob, ready_prob)
        self.state, self.thr = [int(v) for v in s], [int(v) for v in t]

    def draws(self):
        out = []
        for ch in range(N_CHANNELS):
            self.state[ch] = int(xorshift32(self.state[ch]))
            out.append(self.state[ch] < self.thr[ch])
        return out
