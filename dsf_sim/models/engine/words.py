"""Words of 1..64 bits packed LSB first in little-endian byte buffers (every stream of the
engine, architecture §5). One place for the bit arithmetic: a word may share a byte with others
(1/2/4-bit words) or span several bytes (16-bit pixels and weights, 64-bit raw sums)."""
from __future__ import annotations

import numpy as np

from ..jit import jit


@jit(inline=True)
def get(buf, base, bit, bits):
    """Unsigned `bits`-bit word starting at bit `bit` of buf[base:] (bits <= 56, or byte-aligned
    64-bit words)."""
    first = base + (bit >> 3)
    sh = bit & 7
    v = np.int64(0)
    for k in range((sh + bits + 7) >> 3):
        v |= np.int64(buf[first + k]) << (8 * k)
    v >>= sh
    if bits < 64:
        v &= (np.int64(1) << bits) - 1
    return v


@jit(inline=True)
def signed(v, bits):
    """The two's-complement value of an unsigned `bits`-bit word."""
    if bits >= 64:
        return v
    half = np.int64(1) << (bits - 1)
    return (v ^ half) - half


@jit(inline=True)
def put_or(buf, base, bit, bits, v):
    """OR the low `bits` bits of v into buf[base:] at bit `bit` (the target bits are zero)."""
    first = base + (bit >> 3)
    sh = bit & 7
    if bits < 64:
        v &= (np.int64(1) << bits) - 1
    for k in range((sh + bits + 7) >> 3):
        if k == 0:
            buf[first] |= (v << sh) & 0xFF
        else:
            buf[first + k] |= (v >> (8 * k - sh)) & 0xFF
