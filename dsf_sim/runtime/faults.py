"""DMA faults: the codes the firmware understands, and injecting one into a simulated run.

On a board a transfer can fail: the AXI DMA sets an error bit in its status register (DMASR,
PG021) when the memory answers SLVERR/DECERR or the stream breaks the length rules, or it never
completes. The HAL reports either to the firmware (`dsf_fw_dma_error`, or `DSF_DMA_FAILED |
status` from a blocking `dma_wait`), which stops with a report naming channel, job, transfer and
cause. The twin injects the same faults (`fault={"channel", "transfer", "kind"}`), so that path
is tested without a board.
"""
from __future__ import annotations

from ..errors import DsfError
from .fw_driver import CH_NAMES

# mirrors firmware/dsf_fw.h
DMA_SR_INT_ERR, DMA_SR_SLV_ERR, DMA_SR_DEC_ERR = 0x10, 0x20, 0x40
DMA_SR_ERRORS = 0x70
DMA_SR_IDLE = 0x02
DMA_STUCK = 0x8000_0000
DMA_FAILED = 1 << 63

KINDS = {"internal": DMA_SR_INT_ERR, "slave": DMA_SR_SLV_ERR, "decode": DMA_SR_DEC_ERR,
         "stuck": DMA_STUCK}
_KEYS = ("channel", "transfer", "kind")


class Fault:
    """One injected fault: the `transfer`-th transfer (0-based) on `channel` fails as `kind`."""

    def __init__(self, spec, where="fault"):
        from ..values import allowed_keys_text, is_int
        if not isinstance(spec, dict):
            raise DsfError(f"{where} = {spec!r} is invalid: allowed None or a dict with keys "
                           f"{_KEYS}")
        for k in spec:
            if k not in _KEYS:
                raise DsfError(f"{where} key {k!r} is invalid: {allowed_keys_text(k, _KEYS)}")
        missing = [k for k in _KEYS if k not in spec]
        if missing:
            raise DsfError(f"{where} = {spec!r} is invalid: allowed a dict with keys {_KEYS} "
                           f"(missing {missing})")
        ch = spec["channel"]
        if ch not in CH_NAMES:
            raise DsfError(f"{where} channel = {ch!r} is invalid: allowed one of {CH_NAMES}")
        n = spec["transfer"]
        if not is_int(n) or n < 0:
            raise DsfError(f"{where} transfer = {n!r} is invalid: allowed an integer >= 0 (the "
                           f"channel's n-th transfer, from 0)")
        if spec["kind"] not in KINDS:
            raise DsfError(f"{where} kind = {spec['kind']!r} is invalid: allowed one of "
                           f"{tuple(KINDS)}")
        self.channel, self.transfer, self.kind = CH_NAMES.index(ch), int(n), spec["kind"]
        self.status = KINDS[self.kind]
        self.seen = 0          # transfers started on the channel so far
        self.hit = False

    def starts(self, channel: int) -> bool:
        """Count a transfer start; True when it is the faulty one."""
        if channel != self.channel:
            return False
        hit = self.seen == self.transfer
        self.seen += 1
        self.hit |= hit
        return hit

    def check_hit(self, where="fault"):
        if not self.hit:
            raise DsfError(f"{where} transfer = {self.transfer} is invalid: channel "
                           f"{CH_NAMES[self.channel]} made only {self.seen} transfers in this run")


def make_fault(spec, where="fault"):
    return None if spec is None else Fault(spec, where)
