"""Import alias: `from deepsocflow import Bundle, Hardware, QModel, QInput` runs on dsf_sim."""
from dsf_sim import *  # noqa: F401,F403
from dsf_sim import QInput, Bundle, QModel, Hardware  # noqa: F401
