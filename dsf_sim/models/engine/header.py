"""Twin of the header struct `dsf_cfg::hdr_t`: one field of a header beat, by table index."""
from __future__ import annotations

from ..jit import jit
from .params import T_HDR_OFF, T_HDR_W


@jit(inline=True)
def field(buf, base, tabs, f):
    """Field `f` (a params.F_* index) of the header beat at buf[base:], fields LSB first."""
    off = tabs[T_HDR_OFF][f]
    v = 0
    for i in range(tabs[T_HDR_W][f]):
        b = off + i
        v |= ((buf[base + (b >> 3)] >> (b & 7)) & 1) << i
    return v
