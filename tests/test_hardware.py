import os

import pytest

from dsf_sim import Hardware, HardwareError
from dsf_sim.compiler.hardware import clog2v, prob_threshold
from dsf_sim.compiler.rtl_config import config_svh

SEED_ARGS = dict(processing_elements=(8, 96), frequency_mhz=250, bits_input=4, bits_weights=4,
                 bits_sum=16, bits_bias=16, max_batch_size=64, max_channels_in=2048,
                 max_kernel_size=13, max_image_size=512, ram_weights_depth=20,
                 ram_edges_depth=288, axi_width=64, target_cpu_int_bits=32, valid_prob=0.1,
                 ready_prob=0.1, data_dir="vectors")


@pytest.mark.parametrize("v,bits", [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3), (7, 3), (8, 4),
                                    (255, 8), (256, 9)])
def test_clog2v_edges(v, bits):
    assert clog2v(v) == bits
    assert v < (1 << clog2v(v))


def test_seed_hardware_derived_and_roundtrip(tmp_path):
    hw = Hardware(**SEED_ARGS)
    assert (hw.ROWS, hw.COLS, hw.Y_OUT_BITS, hw.KH_MAX, hw.XW_MAX) == (8, 96, 16, 13, 512)
    assert hw.XL_MAX == 64 and hw.PR_MAX == 8 + 12
    assert hw.WB == 96 * 4 // 64
    assert hw.header_field_width("KH2") == 3 and hw.header_field_width("XW_M1") == 9
    assert hw.HEADER_BITS <= hw.AXI_WIDTH
    assert Hardware.from_json(hw.to_json()) == hw
    paths = hw.export(str(tmp_path))
    assert set(paths) == {"config_hw.svh", "config_hw.tcl", "config_tb.svh", "hardware.json",
                          "dsf_cfg.sv", "dsf_cfg.h"}
    assert Hardware.from_json(paths["hardware.json"]) == hw
    pkg = open(paths["dsf_cfg.sv"]).read()
    for name, value in (("ROWS", 8), ("COLS", 96), ("Y_OUT_BITS", 16), ("W_XW_M1", 9),
                        ("AXI_WIDTH", 64), ("WB", 6), ("PB_MAX", 2)):   # ceil(20 * 4 / 64)
        assert f"localparam int {name:<18} = {value};" in pkg, name
    assert "always_ff @(posedge clk or negedge rstn)" in open(paths["config_hw.svh"]).read()
    assert "#define ROWS 8 " in open(paths["dsf_cfg.h"]).read()
    assert "set ROWS 8" in open(paths["config_hw.tcl"]).read()
    tb = open(paths["config_tb.svh"]).read()
    assert f"33'd{prob_threshold(0.1)}" in tb
    sync = Hardware(**{**SEED_ARGS, "async_resetn": False})
    assert "`define DSF_FF always_ff @(posedge clk)\n" in config_svh(sync)


def test_pairs_and_yout():
    hw = Hardware(**{**SEED_ARGS, "max_kernel_size": (7, 5), "max_image_size": (32, 48),
                     "bits_sum": 20, "axi_width": 128})
    assert (hw.KH_MAX, hw.KW_MAX, hw.XH_MAX, hw.XW_MAX, hw.Y_OUT_BITS) == (7, 5, 32, 48, 32)
    assert Hardware.from_json(hw.to_json()) == hw


def test_prob_threshold():
    assert prob_threshold(1.0) == 2**32          # every 32-bit state draws true
    assert prob_threshold(0.5) == 2**31
    assert prob_threshold(0.1) == int(0.1 * 2**32)


BAD = [
    ("processing_elements", (0, 8), "ROWS"),
    ("processing_elements", (8,), "processing_elements"),
    ("processing_elements", (4, 0), "COLS"),
    ("bits_input", 3, "bits_input"),
    ("bits_weights", 32, "bits_weights"),
    ("bits_weights", 12, "bits_weights"),
    ("bits_bias", 12, "bits_bias"),
    ("bits_sum", 6, "bits_sum"),
    ("bits_sum", 49, "bits_sum"),
    ("max_kernel_size", 4, "max_kernel_size"),
    ("max_kernel_size", 19, "KH//2"),       # 19//2 = 9 > ROWS = 8
    ("max_image_size", 0, "max_image_size"),
    ("ram_weights_depth", 5, "ram_weights_depth"),   # < KH_MAX
    ("axi_width", 48, "axi_width"),
    ("axi_width", 32, "header beat"),       # seed sizes need > 32 header bits
    ("target_cpu_int_bits", 16, "target_cpu_int_bits"),
    ("valid_prob", 0.0, "valid_prob"),
    ("ready_prob", 1.5, "ready_prob"),
    ("frequency_mhz", -1, "frequency_mhz"),
    ("max_batch_size", 0, "max_batch_size"),
]


@pytest.mark.parametrize("arg,value,needle", BAD)
def test_bad_hardware_args_named(arg, value, needle):
    with pytest.raises(HardwareError) as e:
        Hardware(**{**SEED_ARGS, arg: value})
    msg = str(e.value)
    assert needle in msg and "allowed" in msg
    assert f"= {e.value.value!r}" in msg


def test_16_bit_words_need_sums_that_hold_one_product():
    hw = Hardware(**{**SEED_ARGS, "bits_input": 16, "bits_weights": 16, "bits_sum": 48,
                     "target_cpu_int_bits": 64})
    assert (hw.X_BITS, hw.K_BITS, hw.Y_OUT_BITS, hw.LANES) == (16, 16, 64, 4)
    with pytest.raises(HardwareError, match=r"bits_sum = 32 .*allowed 33\.\.48.*17-bit x 16-bit"):
        Hardware(**{**SEED_ARGS, "bits_input": 16, "bits_weights": 16, "bits_sum": 32})
    with pytest.raises(HardwareError, match=r"bits_sum = 20 .*allowed 21\.\.48"):
        Hardware(**{**SEED_ARGS, "bits_weights": 16, "bits_sum": 20})


def test_from_json_unknown_key():
    with pytest.raises(HardwareError, match="hardware json keys"):
        Hardware.from_dict({**SEED_ARGS, "bogus": 1})
