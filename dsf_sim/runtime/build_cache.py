"""The one build cache: content-hashed folders for every compiled artefact.

The firmware library, the Verilator harnesses, the pyverilator model and the twin's numba cache
all live in `build_root()/<kind>_<key>/`, where the key hashes every input (files by content,
generated texts, flags, tool versions). A build runs under a file lock and publishes its result
atomically (`done` stamp written last), so concurrent test processes share one build and an
interrupted build is redone, never used.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build_root() -> str:
    """$DSF_BUILD_DIR, else build/ of a writable checkout, else ~/.cache/dsf_sim."""
    env = os.environ.get("DSF_BUILD_DIR")
    if env:
        return env
    local = REPO / "build"
    if os.access(REPO, os.W_OK) and (REPO / "pyproject.toml").exists():
        return str(local)
    return os.path.join(os.path.expanduser("~"), ".cache", "dsf_sim")


def digest(files=(), texts=(), extra=(), names=None) -> str:
    """sha256 (hex) of files (name + bytes), texts and extra strings, in order -- the one hasher
    of build keys and equivalence certificates. `names`: how files are named in the hash
    (default: their base names)."""
    h = hashlib.sha256()
    for i, p in enumerate(files):
        p = Path(p)
        name = names[i] if names is not None else p.name
        h.update(str(name).encode() + b"\0" + p.read_bytes() + b"\0")
    for t in texts:
        h.update((t if isinstance(t, bytes) else str(t).encode()) + b"\0")
    for e in extra:
        h.update(str(e).encode() + b"\0")
    return h.hexdigest()


def content_key(files=(), texts=(), extra=()) -> str:
    """The first 16 hex digits of `digest`: a build folder's key."""
    return digest(files, texts, extra)[:16]


@functools.lru_cache(maxsize=None)
def _tool_version(cmd: tuple) -> str:
    exe = shutil.which(cmd[0])
    if not exe:
        return ""
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) else ""


def tool_version(cmd) -> str:
    """First line of `cmd --version` (part of cache keys), or '' if the tool is missing; asked
    once per process."""
    return _tool_version(tuple(cmd))


def cached_build(kind: str, key: str, build, root: str | None = None) -> Path:
    """Folder `root/<kind>_<key>` holding the result of `build(folder)`; built once, under a lock.

    `build` writes into the folder it is given; the folder counts as built only after it returns
    (a `done` stamp), so a crash mid-build is retried by the next caller."""
    out = Path(root or build_root()) / f"{kind}_{key}"
    stamp = out / "done"
    if stamp.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            build(out)
            stamp.write_text("ok\n")
    return out
