"""A tiny ViT on the engine (issue 14, architecture §22): `dsf verify examples/vit_tiny.py`,
`dsf bench examples/vit_tiny.py --dram ddr4-2400`, or run this file to train it for a few steps
with Keras `fit` on random data, export it and check it on the twin.

32x32x3 image -> 4x4/4 patch-embedding conv (64 tokens of 64 channels) -> 2 post-LN encoder
blocks of 4 heads (Q/K/V projections, Q·Kᵀ and A·V on the engine with the operand as its weight
stream, integer softmax, LayerNorm and GELU on the CPU) -> dense classifier with softmax.
"""
import json
import os

from dsf_sim.api.networks import vit_tiny

# the Kraken configuration (configs/kraken.json): 7x96 PEs, 4-bit words, 400 MHz
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                       "kraken.json")) as f:
    HARDWARE = {k: v for k, v in json.load(f).items() if k != "data_dir"}


def build(hw):
    return vit_tiny(hw, bits=hw.X_BITS)


if __name__ == "__main__":
    import numpy as np
    from dsf_sim import Hardware
    hw = Hardware(**HARDWARE, data_dir="vectors_vit_tiny")
    model = build(hw)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 64)]
    model.fit(x, y, batch_size=1, epochs=1, verbose=2)
    model.export_inference(x=model.random_input, hw=hw)
    model.verify_inference(SIM="model")
