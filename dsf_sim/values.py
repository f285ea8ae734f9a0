"""Argument values from user code as plain Python values (the lowest layer, no dependencies).

Users pass numpy scalars, numpy arrays and lists where the API documents ints and tuples; every
layer stores plain Python values so configurations serialise and compare exactly.
"""
from __future__ import annotations

import numbers


def plain(v):
    """numpy / other numeric scalars -> Python int/float (bools kept); sequences -> tuples."""
    if isinstance(v, (bool, str)) or v is None:
        return v
    if hasattr(v, "dtype") and getattr(v, "shape", None) == ():
        v = v.item()
        if isinstance(v, bool):
            return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        return int(f) if f.is_integer() and not isinstance(v, float) else f
    if isinstance(v, (list, tuple)) or (hasattr(v, "tolist") and hasattr(v, "shape")):
        return tuple(plain(i) for i in (v.tolist() if hasattr(v, "tolist") else v))
    return v
