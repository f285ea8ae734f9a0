"""`Hardware` as users see it: the compiler's configuration plus the FPGA/ASIC build flows."""
from __future__ import annotations

from ..compiler.hardware import Hardware as HardwareConfig


class Hardware(HardwareConfig):
    """A ROWS x COLS engine configuration (argument names follow the DeepSoCFlow seed)."""

    def export(self, out_dir: str = ".") -> dict:
        """Write config_hw.svh, config_hw.tcl, config_tb.svh, hardware.json and the generated
        dsf_cfg.sv (SystemVerilog package) / dsf_cfg.h (C header) into out_dir."""
        from ..compiler.rtl_config import export_files
        return export_files(self, out_dir)

    def export_vivado_tcl(self, board: str = "zcu104", out_dir: str = ".", certificate=None,
                          override: bool = False):
        """Write vivado_flow.tcl -- only for an RTL + config with an equivalence certificate.

        Without one (and without override=True) nothing is built: a message says why and None is
        returned, so seed-style scripts keep running. See dsf_sim.flows.build_flows.
        """
        from ..flows.build_flows import vivado_tcl
        from ..flows.certificate import CertificateError
        try:
            return vivado_tcl(self, board, out_dir, certificate, override)
        except CertificateError as e:
            print(f"export_vivado_tcl: vivado_flow.tcl NOT written -- {e}")
            return None
