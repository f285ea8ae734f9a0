"""`QModel`: the seed's model class -- a bundle graph that exports and verifies itself."""
from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..frontend.graph import BundleModel


class QModel(BundleModel):
    """`QModel(inputs=x_in.raw, outputs=x)`: train with Keras, then export_inference /
    verify_inference."""

    def export_inference(self, x=None, hw=None, out_dir=None, check=True, split="auto",
                         post="auto"):
        """Run float + integer forward passes, compare them, and write the engine's inputs.

        Writes config_fw.h, weights.bin, input.bin, expected.bin and per-bundle vectors to
        `out_dir` (default `hw.data_dir`). Returns the export.Export description.
        split: strided-conv decomposition, 'auto' | 'single' | 'parts' (architecture §9).
        post: on-chip post-processing (architecture §17), 'auto' (every bundle the output
        pipeline can finish exactly; the manifest records why the others stay raw) | 'off' |
        'on' ('auto' that raises for a bundle that must stay raw).
        """
        from ..compiler.export import export_model
        if hw is None:
            raise ModelError("export_inference", "hw", None, "a dsf_sim.Hardware")
        if x is None:
            x = self.random_input
        out_dir = out_dir or hw.data_dir
        ex = export_model(self, np.asarray(x, dtype=np.float32), hw, out_dir, check=check,
                          split=split, post=post)
        self._dsf_last_hw, self._dsf_last_out = hw, out_dir  # verify_inference reuses them
        print(f"export_inference: {len(self.bundles)} bundles bit-exact against QKeras; "
              f"wrote {out_dir}")
        return ex

    def verify_inference(self, SIM="verilator", SIM_PATH="", seed=0, out_dir=None, **kwargs):
        """Run the exported model on a simulator and check every level bit-exactly."""
        from ..flows.verify import verify
        return verify(self, SIM=SIM, SIM_PATH=SIM_PATH, seed=seed, out_dir=out_dir, **kwargs)
