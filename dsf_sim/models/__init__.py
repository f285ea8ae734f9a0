"""Models: the digital twin of rtl/ (engine/, numba), the whole-system twin with the real
firmware (system_model), the handshake PRNG, and the simpy SoC/DRAM model (soc_model)."""
