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


def allowed_keys_text(key, allowed) -> str:
    """'one of [...]' for an unknown key, with the closest allowed spelling when there is one
    (a Keras spelling such as 'pool_size' or a typo such as 'kernel_sise')."""
    import difflib
    allowed = list(allowed)
    text = f"one of {allowed}"
    near = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1, cutoff=0.6)
    if near:
        text += f" (did you mean {near[0]!r}?)"
    return text


def is_int(v) -> bool:
    """A plain integer argument: an int that is not a bool (no float, str or bool coercion)."""
    return isinstance(v, int) and not isinstance(v, bool)
