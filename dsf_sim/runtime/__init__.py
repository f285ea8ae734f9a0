"""Runtime: the C firmware driven through ctypes (build, load, run with a functional engine, the
board's blocking HAL path), the check of a run against an export, and the build cache every
compiled artefact (firmware library, Verilator harnesses) goes through."""
