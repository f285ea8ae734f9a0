"""Import TensorFlow with legacy (tf-keras 2.x) Keras, which qkeras 0.9.0 needs.

Must be imported before anything imports TensorFlow; every module that touches TF imports it.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ["TF_USE_LEGACY_KERAS"] != "1":
    raise RuntimeError("dsf_sim needs TF_USE_LEGACY_KERAS=1 (qkeras 0.9.0 works with tf-keras only); "
                       f"it is set to {os.environ['TF_USE_LEGACY_KERAS']!r}")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["tf", "keras"]
