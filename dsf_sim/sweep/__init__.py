"""Design-space sweeps on Dask (`dsf sweep SPEC.yaml`, architecture §23): networks x hardware
parameters x DRAM settings, each point an independent cached task; see runner.py."""
