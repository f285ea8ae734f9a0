"""numba `jit` for the twin, with an on-disk cache that follows every source it compiles.

numba's own cache checks only the file of the decorated function: a hot loop that inlines the
module functions of other files would keep a stale machine-code copy after those files change.
Here the cache directory is keyed by a hash of all twin sources (and the numba version), so any
edit anywhere in the twin recompiles everything, and an unchanged twin loads from disk.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numba

_HERE = Path(__file__).resolve().parent


def _sources_key() -> str:
    h = hashlib.sha256(numba.__version__.encode())
    for p in sorted(_HERE.rglob("*.py")):
        h.update(str(p.relative_to(_HERE)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> str:
    """build/numba/<key> in a writable checkout, else the user's cache folder."""
    from ..runtime.build_cache import build_root
    return os.path.join(build_root(), "numba", _sources_key())


@functools.lru_cache(maxsize=1)
def _dir() -> str:
    return cache_dir()


def jit(fn=None, *, inline: bool = False):
    """njit with the twin's source-keyed cache; inline=True for the per-module functions the
    cycle loop inlines (they are compiled into the loop, not on their own)."""
    def deco(f):
        if inline:
            return numba.njit(inline="always")(f)
        old = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = _dir()   # read once, when the dispatcher's cache is created
        try:
            return numba.njit(cache=True)(f)
        finally:
            numba.config.CACHE_DIR = old
    return deco(fn) if fn is not None else deco
