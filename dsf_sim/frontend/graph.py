"""`BundleModel`: a Keras functional model of Bundles and the bundle graph the engine runs.

The user-facing `dsf_sim.QModel` (dsf_sim/api/qmodel.py) adds export and verification on top;
this layer knows nothing about hardware.
"""
from __future__ import annotations

import numpy as np

from .bundle import Bundle
from ..errors import ModelError
from .tf_setup import keras


class BundleModel(keras.Model):
    """Functional Keras model (`QModel(inputs=x_in.raw, outputs=x)`) plus the dsf graph view."""

    def __init__(self, inputs, outputs, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._build_graph()

    # ------------------------------------------------------------------ graph
    def _build_graph(self):
        self.bundles = [layer for layer in self.layers if isinstance(layer, Bundle)]
        if not self.bundles:
            raise ModelError("QModel", "bundles", 0, ">= 1 Bundle between input and output")
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise ModelError("QModel", "inputs, outputs", (len(self.inputs), len(self.outputs)),
                             "one input and one output (the engine runs one tensor through "
                             "the bundles; export each output as its own model)")
        last = self.outputs[0]._keras_history.layer
        if last is not self.bundles[-1]:
            raise ModelError("QModel", "output", getattr(last, "name", last),
                             f"the last bundle's output ({self.bundles[-1].name})")
        quant_inputs = [layer for layer in self.layers
                        if getattr(layer, "_dsf_is_input_quant", False)]
        self.input_quant_layer = None
        for i, b in enumerate(self.bundles):
            b.idx = i
        self.bundle_sources = {}
        index = {id(b): b.idx for b in self.bundles}
        for b in self.bundles:
            node = b._inbound_nodes[-1]
            args = list(node.call_args) + list(node.call_kwargs.values())
            tensors = [a for a in args if a is not None and hasattr(a, "_keras_history")]
            srcs = []
            for t in tensors:
                layer = t._keras_history.layer
                if id(layer) in index:
                    srcs.append(index[id(layer)])
                elif layer in quant_inputs:
                    srcs.append(-1)
                    self.input_quant_layer = layer
                else:
                    raise ModelError(f"Bundle({b.name})", "input producer", layer.name,
                                     "a QInput or another Bundle")
            if not srcs or len(srcs) > 2:
                raise ModelError(f"Bundle({b.name})", "number of inputs", len(srcs), "1 or 2")
            if (len(srcs) == 2) != (b.add_spec is not None or b.is_matmul):
                raise ModelError(f"Bundle({b.name})", "inputs", len(srcs),
                                 "2 exactly when add= is given or the core is a matmul, else 1")
            if b.is_matmul:       # (a, b): a is the pixel stream, b the engine's weight operand
                self.bundle_sources[b.idx] = (srcs[0], None)
                b.operand_src = srcs[1]
            else:
                self.bundle_sources[b.idx] = (srcs[0], srcs[1] if len(srcs) == 2 else None)
        if self.input_quant_layer is None:
            raise ModelError("QModel", "inputs", None, "the .raw of a QInput")
        from .quant import parse_quantizer
        self.input_spec_q = parse_quantizer(self.input_quant_layer._dsf_qtext,
                                            "QInput quantizer")
        for b in self.bundles:
            if b.is_matmul:           # the operand is the weight word: its quantizer is kq
                b.kq = (self.input_spec_q if b.operand_src < 0
                        else self.bundles[b.operand_src].out_spec)
            if b.softmax and b.idx != len(self.bundles) - 1:
                raise ModelError(f"Bundle({b.name})", "softmax", True, "only on the last bundle")

    @property
    def batch_size(self) -> int:
        return int(self.inputs[0].shape[0])

    @property
    def random_input(self) -> np.ndarray:
        """A fixed-seed random float input in the input quantiser's range."""
        spec = self.input_spec_q
        rng = np.random.default_rng(0)
        shape = tuple(int(s) for s in self.inputs[0].shape)
        lo, hi = spec.lo * 2.0 ** -spec.frac, spec.hi * 2.0 ** -spec.frac
        return rng.uniform(lo, hi, size=shape).astype(np.float32)

    def compile(self, *args, **kwargs):
        if not args and "optimizer" not in kwargs:
            kwargs["optimizer"] = "adam"
            kwargs.setdefault("loss", "mse")
        return super().compile(*args, **kwargs)

    # ------------------------------------------------------------------ integer model
    def reference(self, x, check=True):
        """Integer reference results for input x (list of reference.BundleRef)."""
        from .reference import run_reference
        return run_reference(self, x, check=check)
