"""numba `jit` for the twin, with an on-disk cache that follows every source it compiles.

numba's own cache checks only the file of the decorated function: a hot loop that inlines the
module functions of other files would keep a stale machine-code copy after those files change.
Here the cache directory is keyed by a hash of all twin sources (and the numba version), so any
edit anywhere in the twin recompiles everything, and an unchanged twin loads from disk.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numba

_HERE = Path(__file__).resolve().parent


def _sources_key() -> str:
    from ..runtime.build_cache import content_key
    files = sorted(_HERE.rglob("*.py"))
    return content_key(files=files, texts=[str(p.relative_to(_HERE)) for p in files],
                       extra=[numba.__version__])


def cache_dir() -> str:
    """build/numba/<key> in a writable checkout, else the user's cache folder."""
    from ..runtime.build_cache import build_root
    return os.path.join(build_root(), "numba", _sources_key())


@functools.lru_cache(maxsize=1)
def _dir() -> str:
    return cache_dir()


def jit(fn=None, *, inline: bool = False):
    """njit with the twin's source-keyed cache; inline=True for the per-module functions the
    cycle loop inlines (they are compiled into the loop, not on their own).

    Loops are compiled without numba's reference counting (`_nrt=False`): every array handed to
    an inlined module function otherwise costs an atomic incref/decref pair per call, i.e. about
    60 atomics per simulated cycle (measured 4x slower timing-only). The loops allocate nothing,
    and numba refuses to compile an allocation with the runtime off, so this cannot go wrong
    silently. They release the GIL (`nogil`): the fast path computes job values in a worker
    thread while the cycle loop runs."""
    def deco(f):
        if inline:
            return numba.njit(inline="always")(f)
        old = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = _dir()   # read once, when the dispatcher's cache is created
        try:
            return numba.njit(cache=True, nogil=True, _nrt=False)(f)
        finally:
            numba.config.CACHE_DIR = old
    return deco(fn) if fn is not None else deco
