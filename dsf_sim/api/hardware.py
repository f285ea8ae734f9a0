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

    def export_vivado_tcl(self, board: str = "zcu104", rtl_dir_abspath=None,
                          scripts_dir_abspath=None, board_tcl_abspath=None, out_dir=None,
                          certificate=None, override: bool = False):
        """Write the FPGA build folder (flows/fpga_flow.py: vivado_flow.tcl, the block design,
        rtl/, sw/) for `board` (DeepSoCFlow's signature). With an equivalence certificate for this
        RTL + configuration the scripts are stamped certified; without one they are written
        marked UNCERTIFIED and stop in Vivado unless DSF_ALLOW_UNCERTIFIED is set (the gate is
        the build, not the script: `dsf build fpga` needs the certificate or --force).
        rtl_dir_abspath: RTL sources to copy into the folder (default: the package's rtl/);
        scripts_dir_abspath: the folder (default out_dir, else "."); board_tcl_abspath: a TCL
        sourced before the project is created. Returns the path of vivado_flow.tcl."""
        from ..flows.fpga_flow import vivado_tcl
        where = out_dir if out_dir is not None else (scripts_dir_abspath or ".")
        return vivado_tcl(self, board, where, certificate, override, rtl_dir=rtl_dir_abspath,
                          board_tcl=board_tcl_abspath, uncertified_ok=not override)

    def simulate(self, SIM: str = "verilator", SIM_PATH: str = "", seed: int = 0,
                 data_dir=None) -> dict:
        """Run the test vectors already exported into data_dir (default self.data_dir) on SIM
        ('verilator': the SystemVerilog system testbench; 'model': the digital twin), every level
        checked bit-exactly (DeepSoCFlow's `hw.simulate`). The export must belong to this
        hardware."""
        from ..compiler.export import check_export_belongs
        from ..flows.verify import run_sim
        d = data_dir or self.data_dir
        check_export_belongs(d, self, where="simulate", arg="data_dir")
        res = run_sim(d, SIM, seed, self.valid_prob, self.ready_prob)
        print(f"simulate[{SIM}, seed {seed}]: bit-exact at every level, {res['cycles_total']} "
              f"cycles, PE utilisation {100 * res['pe_utilisation']:.1f}%")
        return res
