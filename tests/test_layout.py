import types

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dsf_sim import Hardware, HardwareError
from dsf_sim.compiler.geometry import JobGeometry
from dsf_sim.compiler.layout import (engine_job_reference, pack_header, pack_output_job,
                            pack_pixels_job, pack_weights_job, pack_words, unpack_header,
                            unpack_output_job, unpack_pixels_job, unpack_weights_job,
                            unpack_words, wrap_signed)


@settings(max_examples=60, deadline=None)
@given(bits=st.sampled_from([1, 2, 4, 8, 16, 32]), n=st.integers(1, 6), seed=st.integers(0, 10**6),
       signed=st.booleans())
def test_pack_words_roundtrip(bits, n, seed, signed):
    per = max(1, 8 // bits)
    rng = np.random.default_rng(seed)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1))) if signed else (0, 1 << bits)
    w = rng.integers(lo, hi, size=(3, n * per))
    b = pack_words(w, bits)
    assert b.dtype == np.uint8 and b.shape == (3, n * per * bits // 8)
    assert np.array_equal(unpack_words(b, bits, signed), w)


def test_pack_words_lsb_first():
    assert list(pack_words(np.array([1, 2]), 4)) == [0x21]
    assert list(pack_words(np.array([-1, 0, 1, -2]), 2)) == [0b10010011]
    assert list(pack_words(np.array([-2]), 16)) == [0xFE, 0xFF]


def test_wrap_signed():
    assert list(wrap_signed(np.array([32767, 32768, -32769, 65536 + 5]), 16)) == [32767, -32768, 32767, 5]


def _hw(rows, cols, axi, bits=4, kmax=5):
    return Hardware(processing_elements=(rows, cols), bits_input=bits, bits_weights=bits,
                    bits_sum=20, max_kernel_size=kmax, max_image_size=32, max_batch_size=4,
                    ram_weights_depth=30, axi_width=axi, max_channels_in=64)


@pytest.mark.parametrize("rows,cols,axi,bits", [(4, 8, 64, 4), (7, 24, 128, 8), (3, 5, 32, 2),
                                                (8, 96, 64, 4), (5, 7, 256, 1)])
@pytest.mark.parametrize("kh,kw", [(1, 1), (3, 3), (5, 3), (1, 5)])
def test_job_streams_roundtrip(rows, cols, axi, bits, kh, kw):
    hw = _hw(rows, cols, axi, bits)
    if kw > cols:
        pytest.skip("kernel wider than the array is rejected elsewhere")
    rng = np.random.default_rng(rows * 100 + kh * 10 + kw)
    cm = hw.RAM_WEIGHTS_DEPTH // kh
    cm = min(cm, 3)
    g = JobGeometry(KH=kh, KW=kw, CM=cm, XN=2, XH=rows + 3, XW=5, x_signed=bits > 1)
    g.check(hw)
    lo = -(1 << (bits - 1)) if bits > 1 else 0
    x = rng.integers(lo, 1 << (bits - 1) if bits > 1 else 2, size=(2, rows + 3, 5, cm))
    klo = -(1 << (hw.K_BITS - 1))
    w = rng.integers(klo, -klo, size=(kh, kw, cm, g.CO_PRL(hw)))
    wb, wk = pack_weights_job(hw, g, w)
    assert wb.shape == (g.weight_beats(hw), hw.AXI_BYTES)
    assert np.array_equal(unpack_weights_job(hw, g, wb), w)
    assert unpack_header(hw, wb[0]) == g.header_fields(hw)
    pb, pk = pack_pixels_job(hw, g, x)
    assert pb.shape == (g.pixel_beats(hw), hw.AXI_BYTES)
    assert np.array_equal(unpack_pixels_job(hw, g, pb), x)
    assert pk[:-1].all() and pk[-1].any()
    y = engine_job_reference(hw, g, x, w)
    data, keep, last = pack_output_job(hw, g, y)
    assert data.shape[0] == g.output_beats(hw) and last[-1] and last.sum() == 1
    assert np.array_equal(unpack_output_job(hw, g, data), y)
    # keep is all ones except the job's TLAST beat, which keeps exactly the last packet's words
    ob = g.OB(hw)
    nbytes = rows * g.CO_PRL(hw) * hw.Y_OUT_BITS // 8
    assert keep[:-1].all()
    assert keep[-ob:].sum() == nbytes


@pytest.mark.parametrize("rows,axi,bits,kh,cm", [(7, 128, 4, 1, 7), (7, 128, 4, 3, 5),
                                                  (4, 64, 4, 1, 9), (3, 32, 2, 3, 4),
                                                  (5, 256, 1, 5, 6), (7, 128, 8, 3, 3),
                                                  (8, 32, 8, 3, 2)])
def test_pixel_slots_hold_pk_columns_of_one_position(rows, axi, bits, kh, cm):
    """Architecture §3, word by word: column ci of position (n, l, w) sits in the position's
    slot ci // PK at bit (ci mod PK)*PR*X_BITS, a position starts a new slot, every other bit is
    zero; PK columns fit one beat (PK > 1 only with PB = 1)."""
    from dsf_sim.models.engine import words
    hw = _hw(rows, 8, axi, bits, kmax=5)
    g = JobGeometry(KH=kh, KW=1, CM=cm, XN=2, XH=rows + 2, XW=3, x_signed=False)
    g.check(hw)
    PR, PB, PK, CB = g.PR(hw), g.PB(hw), g.PK(hw), g.CB(hw)
    assert PK == max(1, axi // (PR * bits)) and (PK == 1 or PB == 1)
    assert CB == -(-cm // PK) and g.pixel_beats(hw) == 1 + 2 * g.XL(hw) * 3 * CB * PB
    rng = np.random.default_rng(cm)
    x = rng.integers(1, 1 << bits, size=(2, rows + 2, 3, cm))      # no zero word
    beats, _ = pack_pixels_job(hw, g, x)
    body = beats[1:].reshape(-1)
    seen = np.zeros(body.size * 8, bool)
    P = kh // 2
    for n in range(2):
        for l in range(g.XL(hw)):
            for w in range(3):
                for ci in range(cm):
                    slot = ((n * g.XL(hw) + l) * 3 + w) * CB + ci // PK
                    for j in range(PR):
                        bit = slot * PB * axi + ((ci % PK) * PR + j) * bits
                        row = l * rows + j - P
                        want = x[n, row, w, ci] if 0 <= row < rows + 2 else 0
                        assert words.get(body, 0, bit, bits) == want, (n, l, w, ci, j)
                        seen[bit:bit + bits] = True
    bitsv = np.unpackbits(body, bitorder="little").astype(bool)
    assert not (bitsv & ~seen).any(), "a bit outside every column is set"


@pytest.mark.parametrize("rows,cols,axi,bits", [(4, 8, 64, 4), (7, 24, 128, 8), (3, 5, 32, 2),
                                                (7, 96, 128, 4)])
@pytest.mark.parametrize("kw", [1, 3])
def test_finish_packets_carry_only_the_valid_channel_groups(rows, cols, axi, bits, kw):
    """A finish job's packets hold its first CG channels, channel-major, and nothing else
    (architecture §17.2): the words of groups >= CG are never sent, the packet is as short as
    its CG channels allow, and they round-trip; a CG past CO_PRL is clamped."""
    from dataclasses import replace
    hw = _hw(rows, cols, axi, bits)
    rng = np.random.default_rng(rows * 10 + kw)
    base = JobGeometry(KH=1, KW=kw, CM=1, XN=2, XH=rows + 1, XW=3, x_signed=True, finish=True)
    co = base.CO_PRL(hw)
    lo = -(1 << (bits - 1)) if bits > 1 else 0
    y = rng.integers(lo, 1 << (bits - 1) if bits > 1 else 2, (2, 2 * rows, 3, co))
    for cg in sorted({1, max(1, co // 2), co, co + 5}):
        g = replace(base, cg=cg)
        n = min(cg, co)
        assert g.CG(hw) == n
        bits_pk = rows * n * hw.X_BITS
        assert (g.OB(hw) - 1) * axi < bits_pk <= g.OB(hw) * axi
        data, keep, last = pack_output_job(hw, g, y)
        assert data.shape[0] == g.output_beats(hw) == 2 * 2 * 3 * g.OB(hw)
        assert keep[-g.OB(hw):].sum() == -(-bits_pk // 8) and keep[:-1].all()
        got = unpack_output_job(hw, g, data, signed=bits > 1)
        assert np.array_equal(got[..., :n], y[..., :n]) and not got[..., n:].any()
        # the packet's first words are the channels' rows (word g*ROWS + r), then zeros
        pk = unpack_words(data.reshape(-1, g.OB(hw) * hw.AXI_BYTES)[:1], hw.X_BITS, bits > 1)[0]
        assert np.array_equal(pk[: rows * n], y[0, :rows, 0, :n].T.reshape(-1))
        assert not pk[rows * n:].any()
        assert g.output_bytes_moved(hw) == keep.sum()
    with pytest.raises(HardwareError, match="CG"):
        replace(base, cg=co + 1).check(hw)


def test_engine_reference_matches_bruteforce():
    """The vectorised engine reference equals a literal per-PE loop of architecture §4."""
    hw = _hw(3, 6, 64)
    g = JobGeometry(KH=3, KW=3, CM=2, XN=1, XH=5, XW=4, x_signed=True)
    rng = np.random.default_rng(3)
    x = rng.integers(-8, 8, size=(1, 5, 4, 2))
    w = rng.integers(-8, 8, size=(3, 3, 2, 2))
    y = engine_job_reference(hw, g, x, w)
    XL = g.XL(hw)
    for l in range(XL):
        for r in range(3):
            for wo in range(4):
                for co in range(2):
                    s = 0
                    for kh in range(3):
                        for kw in range(3):
                            for ci in range(2):
                                hh, ww = l * 3 + r + kh - 1, wo + kw - 1
                                if 0 <= hh < 5 and 0 <= ww < 4:
                                    s += x[0, hh, ww, ci] * w[kh, kw, ci, co]
                    assert y[0, l * 3 + r, wo, co] == s


def test_header_field_out_of_range_named():
    hw = _hw(4, 8, 64)
    g = JobGeometry(KH=3, KW=3, CM=1, XN=1, XH=4, XW=33, x_signed=True)
    with pytest.raises(HardwareError, match="XW"):
        g.check(hw)
    with pytest.raises(HardwareError, match="header field XW_M1"):
        pack_header(hw, **g.header_fields(hw))
