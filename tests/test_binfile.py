"""Every binary file of an export starts with a header (compiler/binfile.py, architecture §10.1):
the Python loaders and the firmware itself refuse a file of another kind, size, format version
or model/hardware by name, before any DMA starts."""
from __future__ import annotations

import ctypes
import re
import os
import struct

import numpy as np
import pytest

from cases import export_zoo
from dsf_sim import DsfError
from dsf_sim.compiler import binfile
from dsf_sim.compiler.export import load_export
from dsf_sim.runtime.fw_driver import (CMD_DMA, CMD_ERROR, DsfCmd, build_firmware, load_firmware,
                                       memory_map, place_files, run_firmware)


@pytest.fixture(scope="module")
def two_exports(tmp_path_factory):
    a, b = (str(tmp_path_factory.mktemp(n)) for n in ("hdr_a", "hdr_b"))
    export_zoo("residual", "4x8_axi64", a)
    export_zoo("kernels", "4x8_axi64", b)
    return a, b


def test_header_round_trip_and_every_refusal(tmp_path):
    rng = np.random.default_rng(3)
    for kind, (_, dt) in binfile.KINDS.items():
        arr = rng.integers(-100, 100, 37).astype(dt)
        f = binfile.with_header(kind, arr, 0x1234)
        assert binfile.check(f, kind, 0x1234, "f") == arr.nbytes
        p = tmp_path / f"{kind}.bin"
        f.tofile(p)
        assert np.array_equal(binfile.read(str(p), kind, 0x1234), arr)
    f = binfile.with_header("raw", np.arange(16, dtype=np.uint8), 7)
    bad = {
        "short": (f[:40], r"f = 40 bytes is invalid: allowed a dsf_sim export file"),
        "magic": (np.concatenate([[0], f[1:]]).astype(np.uint8), r"f magic = .* is invalid"),
        "version": (np.concatenate([f[:8], np.frombuffer(struct.pack("<I", 9), np.uint8),
                                    f[12:]]), r"f format version = 9 is invalid: allowed 1"),
        "truncated": (f[:-3], r"f data = 13 bytes is invalid: allowed 16 bytes as its header "
                              r"records \(truncated"),
        "long": (np.concatenate([f, f[:2]]), r"\(too long"),
    }
    for case, (data, msg) in bad.items():
        with pytest.raises(DsfError, match=msg):
            binfile.check(data, "raw", 7, "f")
    with pytest.raises(DsfError, match=r"f kind = 'raw' is invalid: allowed 'skip'"):
        binfile.check(f, "skip", 7, "f")
    with pytest.raises(DsfError, match=r"f config hash = 0x0000000000000007 is invalid: allowed "
                                       r"0x0000000000000008 .*another export"):
        binfile.check(f, "raw", 8, "f")
    assert binfile.check(f, "raw", None, "f") == 16      # no manifest: hash not compared


def test_export_files_carry_this_exports_hash(two_exports):
    a, b = two_exports
    ha, hb = (binfile.manifest_hash(load_export(d)[1]) for d in (a, b))
    assert ha != hb                                   # another model, same hardware
    sizes = load_export(a)[1]["sizes"]
    for name in ("weights.bin", "input.bin"):
        assert os.path.getsize(os.path.join(a, name)) == sizes[f"{name[:-4].upper()}_BYTES"]
    for rel in load_export(a)[1]["file_digests"]:
        if rel.endswith(".bin"):
            with open(os.path.join(a, rel), "rb") as f:
                h = f.read(binfile.HEADER_BYTES)
            assert h[:8] == binfile.MAGIC and struct.unpack("<Q", h[24:32])[0] == ha, rel
    with open(os.path.join(a, "config_fw.h")) as f:
        assert f"#define DSF_CONFIG_HASH 0x{ha:016x}ull" in f.read()


def test_foreign_file_is_refused_by_the_loaders(two_exports, tmp_path):
    """input.bin of another model copied into an export: named by the loader even when the
    manifest's digests are made to match (a hand-edited folder)."""
    import shutil
    from dsf_sim.runtime.board_driver import Accelerator
    from dsf_sim.models.twin_hal import TwinHal
    a, b = two_exports
    d = str(tmp_path / "mixed")
    shutil.copytree(a, d)
    shutil.copy(os.path.join(b, "input.bin"), os.path.join(d, "input.bin"))
    with pytest.raises(DsfError, match=r"input.bin config hash = 0x[0-9a-f]{16} is invalid: "
                                       r"allowed 0x[0-9a-f]{16} .*another export"):
        run_firmware(d)
    hw, _ = load_export(a)
    acc = Accelerator(a, TwinHal(hw))
    own = np.fromfile(os.path.join(a, "input.bin"), np.uint8)
    other = own.copy()
    other[24:32] ^= 0xFF                  # the same input with another model's hash
    with pytest.raises(DsfError, match=r"input data config hash = .* is invalid"):
        acc.run(other.tobytes())
    with pytest.raises(DsfError, match=r"input = 10 bytes is invalid: allowed exactly \d+ bytes"):
        acc.run(own[:10].tobytes())
    assert acc.run(own.tobytes()) is not None and acc.check()


def _fw_first_command(d, mutate):
    lib = load_firmware(build_firmware(d))
    mm = memory_map(lib)
    dram = np.zeros(mm["total"], np.uint8)
    place_files(dram, mm, d, load_export(d)[1])
    mutate(dram, mm)
    lib.dsf_fw_init(dram.ctypes.data_as(ctypes.c_void_p), mm["total"])
    cmd = DsfCmd()
    kind = lib.dsf_fw_next(ctypes.byref(cmd))
    return kind, lib.dsf_fw_error_msg().decode()


@pytest.mark.parametrize("field,at,value,msg", [
    ("magic", 0, b"XSF", r"weights.bin: header magic is invalid"),
    ("version", 8, struct.pack("<I", 2), r"weights.bin: format version = 2 is invalid: allowed 1"),
    ("kind", 12, struct.pack("<I", 3), r"weights.bin: kind = 3 is invalid: allowed 1"),
    ("size", 16, struct.pack("<Q", 5), r"weights.bin: data = 5 bytes is invalid: allowed \d+"),
    ("hash", 24, struct.pack("<Q", 99), r"weights.bin: config hash = 0x0000000000000063 is "
                                        r"invalid: allowed 0x[0-9a-f]{16} \(the file belongs to "
                                        r"another model or hardware\)"),
])
def test_firmware_checks_the_headers_in_dram(two_exports, field, at, value, msg):
    """What the board's firmware does when the files in its DRAM are wrong (no Python in the
    path): dsf_fw_next's first command is an error naming the file and the field."""
    a, _ = two_exports
    assert _fw_first_command(a, lambda dram, mm: None)[0] == CMD_DMA

    def mutate(dram, mm):
        dram[mm["weights"] + at:mm["weights"] + at + len(value)] = np.frombuffer(value, np.uint8)
    kind, err = _fw_first_command(a, mutate)
    assert kind == CMD_ERROR and re.search(msg, err), err

    def mutate_input(dram, mm):
        dram[mm["input"] + at:mm["input"] + at + len(value)] = np.frombuffer(value, np.uint8)
    kind, err = _fw_first_command(a, mutate_input)
    assert kind == CMD_ERROR and err.startswith("input.bin: "), err
