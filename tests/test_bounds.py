"""The mapping bound (dsf_sim.perf.bounds) is a true lower bound: no lowering the compiler picks
has fewer MAC beats than it, and no network runs in fewer cycles."""
from __future__ import annotations

from pathlib import Path

import pytest

from dsf_sim import Hardware
from dsf_sim.perf import bench as B
from dsf_sim.perf.bounds import column_use, network_bound, row_use

REPO = Path(__file__).resolve().parents[1]


def test_row_and_column_shares_by_hand():
    assert row_use(56, 7) == 1.0
    assert row_use(13, 7) == pytest.approx(13 / 14)        # AlexNet conv3-5 on 7 rows
    assert row_use(1, 7) == pytest.approx(1 / 7)           # a dense core at batch 1
    assert column_use(64, 1, 96) == (pytest.approx(2 / 3), 1)     # 1x1, CO = 64 on 96 columns
    assert column_use(256, 1, 96) == (pytest.approx(256 / 288), 1)
    assert column_use(64, 3, 96) == (1.0, 3)                # 3x3: 32 channels x 3 columns
    assert column_use(192, 5, 96) == (1.0, 1)               # taps as channels beat 19 x 5
    assert column_use(10, 1, 4) == (pytest.approx(10 / 12), 1)
    # a 2-wide kernel padded to 3: 32 channels x 3 columns, two of them holding taps
    assert column_use(32, 2, 96) == (pytest.approx(2 / 3), 3)


@pytest.fixture(scope="module")
def nets32():
    from dsf_sim.api import networks
    hw = Hardware.from_json(str(REPO / "configs" / "kraken.json"))
    return {n: networks.build(n, hw, input_size=32) for n in ("alexnet", "vgg16", "resnet50")}


@pytest.mark.parametrize("cfg", ["kraken", "small_4x8", "wide_8x24"])
@pytest.mark.parametrize("net", ["alexnet", "vgg16", "resnet50"])
def test_no_lowering_and_no_run_beats_the_bound(nets32, cfg, net):
    hw = Hardware.from_json(str(REPO / "configs" / f"{cfg}.json"))
    layers = B.simulate(B.layer_list(nets32[net], hw), hw)
    nb = network_bound(layers, hw)
    for lp, b in zip(layers, nb["layers"]):
        # the lowering's own MAC beats (every job, padded rows/columns/taps included)
        assert lp.bound_cycles["mac"] >= b["bound_cycles"] - 1e-6, (cfg, net, lp.name)
        assert 0 < b["row_use"] <= 1 and 0 < b["col_use"] <= 1
    # cycles per layer may overlap the next layer (drains), the total may not beat the bound
    assert sum(lp.cycles for lp in layers) >= nb["bound_cycles"] - 10
    assert nb["bound_fps"] <= nb["ideal_fps"] + 1e-9


def test_the_bound_is_tight_where_the_lowering_is_optimal(nets32):
    """VGG-16's 3x3 layers (CO a multiple of 32) fill the columns: their MAC beats are within
    1 % of the bound (only the pipeline's fill remains), so the bound is not trivially low."""
    hw = Hardware.from_json(str(REPO / "configs" / "kraken.json"))
    layers = B.simulate(B.layer_list(nets32["vgg16"], hw), hw)
    nb = network_bound(layers, hw)
    for lp, b in zip(layers, nb["layers"]):
        assert lp.bound_cycles["mac"] <= 1.01 * b["bound_cycles"], lp.name


def test_transformer_cores_respect_the_bound():
    """Dense and matmul cores (architecture §22): rows are the tokens, columns the engine CO."""
    from dsf_sim.api import networks
    hw = Hardware.from_json(str(REPO / "configs" / "small_4x8.json"))
    layers = B.simulate(B.layer_list(networks.build("vit_tiny", hw, input_size=32), hw), hw)
    nb = network_bound(layers, hw)
    for lp, b in zip(layers, nb["layers"]):
        assert lp.bound_cycles["mac"] >= b["bound_cycles"] - 1e-6, lp.name
    assert sum(lp.cycles for lp in layers) >= nb["bound_cycles"] - 10
