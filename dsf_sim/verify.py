"""verify_inference: run an exported model on a simulator and compare every level bit-exactly."""
from __future__ import annotations

from .errors import DsfError

SIMS = ("verilator", "model")


def verify(model, SIM="verilator", SIM_PATH="", seed=0, out_dir=None, **kwargs):
    if SIM not in SIMS:
        raise DsfError(f"verify_inference: SIM = {SIM!r} is invalid: allowed one of {SIMS}")
    raise DsfError(f"verify_inference(SIM={SIM!r}) needs the system testbench, which is not "
                   "built yet (issue 3); use export_inference for the reference vectors")
