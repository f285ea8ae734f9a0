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
        split: strided-conv decomposition, 'auto' | 'single' | 'parts' | 'taps' (architecture §9).
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
        self._dsf_last_post = post
        n = len(self.bundles)
        if not check:
            said = f"{n} bundles exported, not compared with QKeras (check=False)"
        else:
            modes = [(r.float_check or {}).get("mode", "") for r in ex.refs]
            fn = sum(1 for md in modes if "integer tolerance" in md)
            wide = sum(1 for md in modes if md.startswith("sums exact in float64")
                       and "integer tolerance" not in md)
            said = f"{n - wide - fn} bundles bit-exact against QKeras"
            if wide:
                said += (f", {wide} with sums exact in float64 and quantised stages within "
                         f"QKeras' float32 error bound")
            if fn:
                said += (f", {fn} with an integer softmax/GELU/LayerNorm stage within its "
                         f"documented tolerance of the float function")
        print(f"export_inference: {said}; wrote {out_dir}")
        return ex

    def verify_inference(self, SIM="verilator", SIM_PATH="", seed=0, out_dir=None, **kwargs):
        """Run the exported model on a simulator and check every level bit-exactly."""
        from ..flows.verify import verify
        return verify(self, SIM=SIM, SIM_PATH=SIM_PATH, seed=seed, out_dir=out_dir, **kwargs)

    def predict_performance(self, hw=None, dram: str = "ideal", cpu=None):
        """`seconds, bytes = model.predict_performance()` (DeepSoCFlow API): the predicted time
        of one inference and the DRAM bytes it moves, from the cycle model (== RTL) of every job
        of this model's lowering and post-processing decisions on `hw` (default: the hardware of
        the last export_inference). With dram='ideal' (default) seconds are engine cycles over
        the clock; another `dsf bench` DRAM preset (and cpu, default 'a53') runs the SoC model."""
        from ..models.soc_model import CPU_PRESETS, DRAM_PRESETS, SocConfig, run_soc
        from ..perf import bench as B
        hw = hw or getattr(self, "_dsf_last_hw", None)
        if hw is None:
            raise ModelError("predict_performance", "hw", None,
                             "a Hardware (call export_inference(hw=...) first or pass hw=)")
        if dram not in DRAM_PRESETS:
            raise ModelError("predict_performance", "dram", dram, f"one of {sorted(DRAM_PRESETS)}")
        if cpu is not None and cpu not in CPU_PRESETS:
            raise ModelError("predict_performance", "cpu", cpu, f"one of {sorted(CPU_PRESETS)}")
        layers = B.simulate(B.layer_list(self, hw, getattr(self, "_dsf_last_post", "auto")), hw)
        t = B.totals(layers, hw)
        nbytes = t["weight_bytes"] + t["pixel_bytes"] + t["output_bytes"] + t["skip_bytes"]
        if dram == "ideal" and cpu in (None, "none"):
            return t["time_ms"] / 1e3, int(nbytes)
        soc = run_soc(layers, hw, SocConfig.preset(dram, cpu or "a53"), record_timeline=False)
        return soc.total_s, int(sum(soc.channel_bytes.values()))
