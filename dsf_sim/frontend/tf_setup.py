"""Import TensorFlow with legacy (tf-keras 2.x) Keras, which qkeras 0.9.0 needs.

Must be imported before anything imports TensorFlow; every module that touches TF imports it.
"""
import os

from ..errors import DsfError

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's oneDNN float32 convolution is wrong when a 'same' kernel is wider than its input
# with a stride > 1 (a 1x4/2 kernel on W = 2 is off by up to 91 against float64 and Eigen; found
# by `dsf fuzz`, seed 10319): QKeras models then disagree with the mathematics the engine
# computes. The Eigen kernels are exact; a user's explicit setting is kept (and such layers are
# then refused by the export's float check, by name).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
if os.environ["TF_USE_LEGACY_KERAS"] != "1":
    raise DsfError("dsf_sim needs TF_USE_LEGACY_KERAS=1 (qkeras 0.9.0 works with tf-keras only); "
                       f"it is set to {os.environ['TF_USE_LEGACY_KERAS']!r}")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

# Grappler's arithmetic optimizer rewrites QKeras' quantiser arithmetic in graph mode (predict,
# tf.function) so that values exactly on a rounding tie round the other way: a 32x32 ResNet-50
# of dsf_sim.api.networks gave 659 of 2048 outputs off the integer reference (and off the same
# model run eagerly). With it off, graph mode equals eager mode and the reference (architecture
# §8.1; benchmarks/onednn_speed.py measures the cost). DSF_TF_ARITHMETIC_OPT=1 keeps it on (any other value than 0 or 1 is an error).
_arith = os.environ.get("DSF_TF_ARITHMETIC_OPT", "0")
if _arith not in ("0", "1"):
    raise DsfError(f"DSF_TF_ARITHMETIC_OPT = {_arith!r} is invalid: allowed '0' (default: "
                       "grappler's arithmetic optimizer off) or '1' (on)")
if _arith == "0":
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})

__all__ = ["tf", "keras"]
