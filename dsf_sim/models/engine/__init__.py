"""The digital twin of rtl/: one file per RTL module with the RTL's names (pixel_streamer,
weight_loader, sequencer, pe_array, output), the DMA channels of the harnesses, the clock loop
that composes them (core), its state (state) and the engine harness (harness).

Tables that both sides share: registers (every register, once), signals (what lockstep
compares), mutations (single-point bugs for both sides)."""
from .core import ERR_OUTBUF, ERR_OVERFLOW, ERR_WATCHDOG, EVENT, LIMIT, OK  # noqa: F401
from .harness import run_engine_jobs_model, run_engine_jobs_model_full  # noqa: F401
from .state import EngineModelError, EngineState  # noqa: F401
