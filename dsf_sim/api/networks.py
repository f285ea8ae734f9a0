"""AlexNet / VGG-16 / ResNet-50 v1.5 (conv layers) and a tiny ViT / BERT-tiny-style encoder
(architecture §22) written with the dsf_sim Bundle API.

Random fixed weights (no download). `bits` selects 4- or 8-bit quantisers (the Hardware's
bits_input/bits_weights must match), `input_size` builds reduced variants (e.g. 32x32).

* AlexNet: the single-tower (torchvision) AlexNet — 64, 192, 384, 256, 256 filters — on 227x227
  ('valid' 11x11/4 conv1 -> 55x55), 655.6 MMAC, which is within 1.5 % of the grouped Krizhevsky
  AlexNet (666 MMAC) that the Kraken figures count. The Bundle API has no grouped convolution.
  Max pools 3x3/2 ('valid') after conv1, conv2, conv5.
* VGG-16: 13 3x3 'same' convs, max pool 2x2/2 after each stage (15.35 GMAC at 224).
* ResNet-50 v1.5: 7x7/2 stem + 3x3/2 max pool ('same'), 16 bottlenecks (stride on the 3x3 conv),
  1x1 downsample convs (stride 2 except stage 2), residual add fused into the third conv's
  bundle, global 7x7 average pool on the last bundle (4.09 GMAC at 224).
FC layers are omitted (the Kraken reference figures are conv layers only).
"""
from __future__ import annotations

import numpy as np


def _q(bits, b_bits=16):
    return dict(kq=f"quantized_bits({bits},0,False,True,1)",
                bq=f"quantized_bits({b_bits},0,False,True,1)",
                relu=f"quantized_relu({bits},0,negative_slope=0)",
                sbits=f"quantized_bits({bits},0,False,True,1)")


def _conv(Q, filters, k, s=1, pad="same", act=None):
    return {"type": "conv", "filters": filters, "kernel_size": k, "strides": s, "padding": pad,
            "kernel_quantizer": Q["kq"], "bias_quantizer": Q["bq"], "use_bias": True,
            "act_str": act or Q["relu"]}


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for b in model.bundles:
        if b.core_layer is None:       # a matmul core has no weights of its own
            continue
        k = b.core_layer.kernel
        k.assign(rng.uniform(-1.0, 1.0, size=k.shape).astype(np.float32))
        bb = b.core_layer.bias
        bb.assign(rng.uniform(-0.5, 0.5, size=bb.shape).astype(np.float32))
    return model


def _check_bits(hw, bits):
    if hw.X_BITS != bits or hw.K_BITS != bits:
        raise ValueError(f"network bits={bits} but hardware has bits_input={hw.X_BITS}, "
                         f"bits_weights={hw.K_BITS}")


def alexnet(hw, bits=4, input_size=227, seed=0, batch=1):
    from dsf_sim import Bundle, QInput, QModel
    _check_bits(hw, bits)
    Q = _q(bits, hw.B_BITS)
    pool = {"type": "max", "size": 3, "strides": 2, "padding": "valid", "act_str": Q["relu"]}
    x = x_in = QInput((input_size, input_size, 3), batch_size=batch, hw=hw, name="alexnet_in")
    small = input_size < 100  # reduced variant: keep the layer types, 'same' pools
    p = dict(pool, padding="same") if small else pool
    x = Bundle(core=_conv(Q, 64, 11, 4, "valid" if not small else "same"), pool=p, name="conv1")(x)
    x = Bundle(core=_conv(Q, 192, 5), pool=p, name="conv2")(x)
    x = Bundle(core=_conv(Q, 384, 3), name="conv3")(x)
    x = Bundle(core=_conv(Q, 256, 3), name="conv4")(x)
    x = Bundle(core=_conv(Q, 256, 3), pool=p, name="conv5")(x)
    return _randomize(QModel(inputs=x_in.raw, outputs=x), seed)


VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M"]


def vgg16(hw, bits=4, input_size=224, seed=0, batch=1):
    from dsf_sim import Bundle, QInput, QModel
    _check_bits(hw, bits)
    Q = _q(bits, hw.B_BITS)
    pool = {"type": "max", "size": 2, "strides": 2, "padding": "same", "act_str": Q["relu"]}
    x = x_in = QInput((input_size, input_size, 3), batch_size=batch, hw=hw, name="vgg16_in")
    i, n = 0, 0
    stage, idx = 1, 1
    while i < len(VGG16_CFG):
        f = VGG16_CFG[i]
        has_pool = i + 1 < len(VGG16_CFG) and VGG16_CFG[i + 1] == "M"
        x = Bundle(core=_conv(Q, f, 3), pool=pool if has_pool else None,
                   name=f"conv{stage}_{idx}")(x)
        n += 1
        idx += 1
        i += 2 if has_pool else 1
        if has_pool:
            stage, idx = stage + 1, 1
    return _randomize(QModel(inputs=x_in.raw, outputs=x), seed)


RESNET50_STAGES = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]


def resnet50(hw, bits=4, input_size=224, seed=0, batch=1):
    from dsf_sim import Bundle, QInput, QModel
    _check_bits(hw, bits)
    Q = _q(bits, hw.B_BITS)
    x = x_in = QInput((input_size, input_size, 3), batch_size=batch, hw=hw, name="resnet50_in")
    x = Bundle(core=_conv(Q, 64, 7, 2), name="stem",
               pool={"type": "max", "size": 3, "strides": 2, "padding": "same",
                     "act_str": Q["relu"]})(x)
    final = max(1, -(-input_size // 32))
    for si, (w, blocks, stride) in enumerate(RESNET50_STAGES):
        for bi in range(blocks):
            s = stride if bi == 0 else 1
            name = f"s{si + 2}b{bi + 1}"
            if bi == 0:
                skip = Bundle(core=_conv(Q, 4 * w, 1, s, act=Q["sbits"]), name=f"{name}_down")(x)
            else:
                skip = x
            a = Bundle(core=_conv(Q, w, 1), name=f"{name}_a")(x)
            b = Bundle(core=_conv(Q, w, 3, s), name=f"{name}_b")(a)
            last = si == len(RESNET50_STAGES) - 1 and bi == blocks - 1
            x = Bundle(core=_conv(Q, 4 * w, 1, act=Q["sbits"]), name=f"{name}_c",
                       add={"act_str": Q["relu"]},
                       pool={"type": "avg", "size": final, "strides": final, "padding": "same",
                             "act_str": Q["relu"]} if last else None)(b, skip)
    return _randomize(QModel(inputs=x_in.raw, outputs=x), seed)


def _dense(Q, units, act):
    return {"type": "dense", "units": units, "kernel_quantizer": Q["kq"],
            "bias_quantizer": Q["bq"], "use_bias": True, "act_str": act}


def encoder_block(x, Q, d, heads, mlp, name):
    """One post-LN transformer encoder block on tokens x [N, S, d] (architecture §22):
    Q, K, V projections; scores Q·Kᵀ per head with the integer softmax; A·V per head; output
    projection + residual + LayerNorm; MLP (GELU) + residual + LayerNorm. 1/√dh is folded into
    the score quantizer's binary point (int_bits), as any fixed-point scale would be."""
    from dsf_sim import Bundle
    q = Bundle(core=_dense(Q, d, Q["sbits"]), name=f"{name}_q")(x)
    k = Bundle(core=_dense(Q, d, Q["sbits"]), name=f"{name}_k")(x)
    v = Bundle(core=_dense(Q, d, Q["sbits"]), name=f"{name}_v")(x)
    a = Bundle(core={"type": "matmul", "heads": heads, "transpose_b": True,
                     "act_str": Q["score"]},
               fn={"type": "softmax", "act_str": Q["prob"]}, name=f"{name}_qk")(q, k)
    o = Bundle(core={"type": "matmul", "heads": heads, "act_str": Q["sbits"]},
               name=f"{name}_av")(a, v)
    x = Bundle(core=_dense(Q, d, Q["sbits"]), add={"act_str": Q["sbits1"]},
               fn={"type": "layernorm", "act_str": Q["norm"]}, name=f"{name}_proj")(o, x)
    h = Bundle(core=_dense(Q, mlp, Q["sbits1"]), fn={"type": "gelu", "act_str": Q["sbits1"]},
               name=f"{name}_mlp1")(x)
    return Bundle(core=_dense(Q, d, Q["sbits"]), add={"act_str": Q["sbits1"]},
                  fn={"type": "layernorm", "act_str": Q["norm"]}, name=f"{name}_mlp2")(h, x)


def _qt(bits, b_bits):
    Q = _q(bits, b_bits)
    Q.update(sbits1=f"quantized_bits({bits},1,False,True,1)",
             score=f"quantized_bits({bits},2,False,True,1)",   # scores in [-4, 4)
             prob=f"quantized_bits({bits},0,False,False,1)",   # probabilities in [0, 1)
             norm=f"quantized_bits({bits},2,False,True,1)")    # normalised values in [-4, 4)
    return Q


def vit_tiny(hw, bits=4, input_size=32, seed=0, batch=1, dim=64, heads=4, blocks=2,
             patch=4, classes=10):
    """A tiny ViT: patch embedding as a patch x patch / patch conv (tokens = the patch grid),
    `blocks` encoder blocks of `heads` heads, then a dense classifier over the flattened tokens
    with softmax. No class token or position embedding (the Bundle API has no constant add)."""
    from dsf_sim import Bundle, QInput, QModel
    _check_bits(hw, bits)
    Q = _qt(bits, hw.B_BITS)
    x = x_in = QInput((input_size, input_size, 3), batch_size=batch, hw=hw, name="vit_in")
    x = Bundle(core=_conv(Q, dim, patch, patch, "valid", Q["sbits1"]), tokens=True,
               name="patch_embed")(x)
    for i in range(blocks):
        x = encoder_block(x, Q, dim, heads, 2 * dim, f"enc{i + 1}")
    x = Bundle(core=_dense(Q, 8, Q["relu"]), flatten=True, name="head_reduce")(x)
    x = Bundle(core=_dense(Q, classes, Q["sbits1"]), softmax=True, softmax_frac=16,
               name="head")(x)
    return _randomize(QModel(inputs=x_in.raw, outputs=x), seed)


def bert_tiny(hw, bits=4, input_size=128, seed=0, batch=1, dim=128, heads=2, blocks=2):
    """A BERT-tiny-style encoder (2 layers, d = 128, 2 heads, sequence `input_size` = 128):
    the input is the embedded sequence [N, S, d] (the embedding lookup is a table read, not
    engine work); ends with a dense pooler on every token (relu in place of BERT's tanh)."""
    from dsf_sim import Bundle, QInput, QModel
    _check_bits(hw, bits)
    Q = _qt(bits, hw.B_BITS)
    x = x_in = QInput((input_size, dim), batch_size=batch, hw=hw, name="bert_in")
    for i in range(blocks):
        x = encoder_block(x, Q, dim, heads, 4 * dim, f"layer{i + 1}")
    x = Bundle(core=_dense(Q, dim, Q["relu"]), name="pooler")(x)
    return _randomize(QModel(inputs=x_in.raw, outputs=x), seed)


NETWORKS = {"alexnet": alexnet, "vgg16": vgg16, "resnet50": resnet50, "vit_tiny": vit_tiny,
            "bert_tiny": bert_tiny}
DEFAULT_SIZE = {"alexnet": 227, "vgg16": 224, "resnet50": 224, "vit_tiny": 32, "bert_tiny": 128}
# Kraken (arXiv 2112.02793), contract §9: conv layers, 7x96 PEs @ 400 MHz
KRAKEN_FPS = {"alexnet": 336.6, "vgg16": 17.5, "resnet50": 64.2}


def build(name, hw, bits=None, input_size=None, seed=0, batch=1):
    """Benchmark network `name` for `hw` (batch: images per inference, <= max_batch_size)."""
    bits = bits or hw.X_BITS
    return NETWORKS[name](hw, bits=bits, input_size=input_size or DEFAULT_SIZE[name], seed=seed,
                          batch=batch)
