"""The sweep's output folder: one file per finished piece of work, and the table built from them.

Why fragments: a point is stored the moment it finishes, as its own small file written atomically
(tmp + os.replace), so a crash or a kill of the client loses at most the points still running,
and the folder never holds half a file. The Parquet table (and a CSV beside it for readers
without pyarrow) is rebuilt from the fragments, also atomically, as results stream in.

    OUT/points/<key>.json          one row per point (status ok / infeasible / error)
    OUT/engine/<engine_key>.pkl    the cycle model's per-layer result, reused by new DRAM points
    OUT/synth/<synth_key>.json     a yosys estimate per hardware configuration
    OUT/results.parquet, OUT/results.csv
    OUT/summary.json (the last run), OUT/runs.jsonl (every run: counts, wall time)

Rows with status "error" are kept in the table but do not count as done: a re-run retries them.
"""
from __future__ import annotations

import csv
import json
import os
import pickle

COLUMNS = ("key", "network", "input_size", "batch", "shape", "rows", "cols", "bits",
           "frequency_mhz", "params", "dram", "bw_gbs", "latency_ns", "cpu", "mode", "status",
           "reason")
TRAILING = ("engine_s", "soc_s", "worker_pid", "engine_key", "synth_key", "sim_version")
SYNTH_COLUMNS = ("synth_status", "synth_reason", "synth_target", "cells", "LUT", "FF", "DSP",
                 "BRAM36", "synth_s")


def _atomic_write(path, data: bytes):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Store:
    """Fragments and tables of one output folder (module docstring)."""

    def __init__(self, out_dir: str):
        self.out = out_dir
        for d in ("points", "engine", "synth"):
            os.makedirs(os.path.join(out_dir, d), exist_ok=True)

    def _path(self, kind, key, ext):
        return os.path.join(self.out, kind, f"{key}.{ext}")

    # ---------------------------------------------------------------- points
    def put_row(self, row: dict):
        _atomic_write(self._path("points", row["key"], "json"),
                      json.dumps(row, sort_keys=True).encode())

    def row(self, key: str):
        p = self._path("points", key, "json")
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)

    def done(self, key: str) -> bool:
        """Finished for good: ok or infeasible (an error is retried)."""
        r = self.row(key)
        return r is not None and r.get("status") in ("ok", "infeasible")

    # ---------------------------------------------------------------- engine results
    def put_engine(self, key: str, result: dict):
        _atomic_write(self._path("engine", key, "pkl"), pickle.dumps(result))

    def engine(self, key: str):
        p = self._path("engine", key, "pkl")
        if not os.path.exists(p):
            return None
        with open(p, "rb") as f:
            return pickle.load(f)

    # ---------------------------------------------------------------- synth
    def put_synth(self, key: str, result: dict):
        _atomic_write(self._path("synth", key, "json"), json.dumps(result).encode())

    def synth(self, key: str):
        p = self._path("synth", key, "json") if key else None
        if not p or not os.path.exists(p):
            return None
        with open(p) as f:
            r = json.load(f)
        return r if r.get("synth_status") == "ok" else None

    # ---------------------------------------------------------------- table
    def table_rows(self, keys, metrics, with_synth: bool) -> list:
        """The rows of `keys` (in order) that exist, with their configuration's synth
        columns; the columns: identity, the spec's metrics, synth, bookkeeping."""
        cols = list(COLUMNS) + list(metrics) + (list(SYNTH_COLUMNS) if with_synth else []) \
            + list(TRAILING)
        out = []
        for k in keys:
            r = self.row(k)
            if r is None:
                continue
            if with_synth:
                p = self._path("synth", r.get("synth_key") or "-", "json")
                if os.path.exists(p):
                    with open(p) as f:
                        r.update(json.load(f))
            out.append({c: r.get(c) for c in cols})
        return out

    def write_table(self, rows: list) -> dict:
        """results.parquet and results.csv, each replaced atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        paths = dict(parquet=os.path.join(self.out, "results.parquet"),
                     csv=os.path.join(self.out, "results.csv"))
        if not rows:
            return paths
        tmp = paths["parquet"] + f".tmp{os.getpid()}"
        pq.write_table(pa.Table.from_pylist(rows), tmp)
        os.replace(tmp, paths["parquet"])
        tmp = paths["csv"] + f".tmp{os.getpid()}"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, paths["csv"])
        return paths

    def log_run(self, summary: dict):
        """Append one line per run to runs.jsonl (summary.json holds only the last run)."""
        with open(os.path.join(self.out, "runs.jsonl"), "a") as f:
            f.write(json.dumps(summary, default=str) + "\n")

    def write_json(self, name: str, obj):
        _atomic_write(os.path.join(self.out, name),
                      json.dumps(obj, indent=1, default=str).encode())
