"""TensorFlow's padding rule for convolutions and pools: output size and leading padding.

The integer reference, the stride lowering and the firmware's pooling all follow exactly this
rule, so it lives once, at the bottom of the model layer.
"""
from __future__ import annotations

from ..errors import ModelError


def tf_padding(size: int, k: int, s: int, padding: str, where: str = "conv") -> tuple[int, int]:
    """(output size, leading padding) of a window `k` with stride `s` over `size` elements."""
    if padding == "same":
        out = -(-size // s)
        return out, max((out - 1) * s + k - size, 0) // 2
    if size < k:
        raise ModelError(where, "input size", size, f">= kernel size {k} for 'valid'")
    return (size - k) // s + 1, 0
