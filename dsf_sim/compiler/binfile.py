"""The 64-byte header every binary file of an export starts with.

A bare array cannot say what it is: a truncated weights.bin, an input.bin of another model or a
raw stream copied into the wrong folder would be read as valid numbers and end in a wrong result
or a watchdog. The header names the file's kind, its payload size and the export's config hash
(model + hardware), so each loader - and the firmware, for the two files it reads from DRAM on
the board - refuses a wrong file by name before using it (architecture §10.1).

Layout (little-endian): magic "DSFBIN\\0\\0" (8) · u32 version · u32 kind · u64 payload bytes ·
u64 config hash · u32 element bytes · 28 zero bytes.
Kinds: weights, input, expected (int32), softmax (float64), pixels, raw, skip, bundle_out (int32),
softmax_int (int64, the integer softmax of architecture §21).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct

import numpy as np

from ..errors import DsfError

MAGIC = b"DSFBIN\0\0"
VERSION = 1
HEADER_BYTES = 64     # = the firmware's ALIGN: payloads stay 64-byte aligned in DRAM
_FMT = "<8sIIQQI28s"
# kind -> (code, element dtype); codes are shared with the firmware (config_fw.h DSF_KIND_*)
KINDS = {"weights": (1, "u1"), "input": (2, "u1"), "expected": (3, "<i4"),
         "softmax": (4, "<f8"), "pixels": (5, "u1"), "raw": (6, "u1"), "skip": (7, "u1"),
         "bundle_out": (8, "<i4"), "softmax_int": (9, "<i8")}
_NAMES = {code: k for k, (code, _) in KINDS.items()}


def config_hash(model_hash: str, hw_files: dict) -> int:
    """64-bit hash of what shapes an export's files: the model fingerprint and the hardware
    arguments that are not run-only (`export._RUN_ONLY`)."""
    h = hashlib.sha256(json.dumps([model_hash, hw_files], sort_keys=True).encode()).digest()
    return int.from_bytes(h[:8], "little")


def header(kind: str, payload_bytes: int, chash: int) -> bytes:
    code, dt = KINDS[kind]
    return struct.pack(_FMT, MAGIC, VERSION, code, int(payload_bytes), int(chash),
                       np.dtype(dt).itemsize, bytes(28))


def with_header(kind: str, arr: np.ndarray, chash: int) -> np.ndarray:
    """`arr` (cast to the kind's dtype) as bytes behind its header: what an export writes."""
    payload = np.ascontiguousarray(arr, dtype=KINDS[kind][1]).reshape(-1).view(np.uint8)
    return np.concatenate([np.frombuffer(header(kind, payload.size, chash), np.uint8), payload])


def check(data: bytes | np.ndarray, kind: str, chash: int | None, name: str) -> int:
    """Payload bytes of `data` (a whole file) after checking its header; `name` (the file) is in
    every error. `chash=None` skips the config hash (a file read without its manifest)."""
    raw = data.reshape(-1).view(np.uint8) if isinstance(data, np.ndarray) else \
        np.frombuffer(data, np.uint8)
    n = raw.size
    if n < HEADER_BYTES:
        raise DsfError(f"{name} = {n} bytes is invalid: allowed a dsf_sim export file (a "
                       f"{HEADER_BYTES}-byte header, then the data; truncated? export again)")
    magic, ver, code, size, h, elem, pad = struct.unpack(_FMT, raw[:HEADER_BYTES].tobytes())
    if magic != MAGIC:
        raise DsfError(f"{name} magic = {magic!r} is invalid: allowed {MAGIC!r} (not a dsf_sim "
                       f"export file, or written before file headers; export again)")
    if ver != VERSION:
        raise DsfError(f"{name} format version = {ver} is invalid: allowed {VERSION} (written by "
                       f"another dsf_sim version; export again)")
    want_code, dt = KINDS[kind]
    if code != want_code or elem != np.dtype(dt).itemsize or any(pad):
        got = _NAMES.get(code, f"unknown kind {code}")
        raise DsfError(f"{name} kind = {got!r} is invalid: allowed {kind!r} (the file is another "
                       f"of the export's files, or its header is damaged)")
    if n - HEADER_BYTES != size:
        raise DsfError(f"{name} data = {n - HEADER_BYTES} bytes is invalid: allowed {size} bytes "
                       f"as its header records ({'truncated' if n - HEADER_BYTES < size else 'too long'}; "
                       f"export again)")
    if chash is not None and h != chash:
        raise DsfError(f"{name} config hash = {h:#018x} is invalid: allowed {chash:#018x} (this "
                       f"export's model and hardware; the file belongs to another export)")
    return size


def read_image(path: str, kind: str, chash: int | None) -> np.ndarray:
    """The whole checked file (header included) as uint8: what goes into the DRAM image at the
    firmware's dsf_fw_weights_offset / dsf_fw_input_offset (the firmware checks it again)."""
    if not os.path.isfile(path):
        raise DsfError(f"export file {path} = missing is invalid: allowed the file the export "
                       f"wrote (export again)")
    data = np.fromfile(path, dtype=np.uint8)
    check(data, kind, chash, path)
    return data


def read(path: str, kind: str, chash: int | None) -> np.ndarray:
    """The checked payload of an export file, as its kind's dtype."""
    return read_image(path, kind, chash)[HEADER_BYTES:].view(KINDS[kind][1])


def manifest_hash(manifest: dict, where: str = "export") -> int:
    """The config hash a manifest records (named error for a manifest from before headers)."""
    v = manifest.get("config_hash")
    if not isinstance(v, str):
        raise DsfError(f"{where}: manifest config_hash = {v!r} is invalid: allowed the hex string "
                       f"written by this version's export (export again)")
    return int(v, 16)
