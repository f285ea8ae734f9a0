"""Running a sweep on Dask: the cluster, the task graph, results streamed into the store.

Why this shape: every point is an independent future, so Dask spreads them over any number of
workers and reschedules the tasks of a worker that dies (a killed worker loses running work,
not results: what finished is already stored on the client side). Only points without a stored
result are submitted, so a re-run after a crash (or a finished run) does only what is missing.
The client writes every file; workers only compute, so a remote cluster needs dsf_sim (and the
model files, at the same paths) but no access to the output folder.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from contextlib import contextmanager

from ..errors import DsfError
from .points import canonical, expand, simulator_version
from .spec import Spec
from .store import Store
from .tasks import engine_task, point_task, synth_task

TABLE_EVERY_S = 1.0       # rewrite the Parquet table at most this often while results stream


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                connect_timeout: float = 10.0):
    """A Client of the cluster at `scheduler`, else of an embedded LocalCluster of `workers`
    processes (one thread each: the cycle model holds the GIL). An address that does not answer
    within `connect_timeout` s is a named error, never a hang."""
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError, TypeError) as e:
            raise DsfError(f"--scheduler = {scheduler!r} is invalid: allowed the address of a "
                           f"running Dask scheduler such as tcp://HOST:PORT (no connection "
                           f"within {connect_timeout:g} s: {type(e).__name__}: {e})") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or max(1, min(4, os.cpu_count() or 1))
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def _dram_figures(dram) -> tuple:
    from ..models.soc_model import DRAM_PRESETS
    d = DRAM_PRESETS[dram.config["preset"]] if "preset" in dram.config else dram.config
    return float(d["bw_gbs"]), float(d["latency_ns"])


@functools.lru_cache(maxsize=8)
def _base(path: str) -> dict:
    from ..compiler.hardware import Hardware
    return Hardware.from_json(path).to_dict()


def base_row(p, spec: Spec) -> dict:
    """A point's identity columns (what was swept, where)."""
    hw = p.hw or {}
    pe = (hw.get("processing_elements") or p.params.get("processing_elements")
          or _base(spec.hardware)["processing_elements"])
    bits = hw.get("bits_input", p.params.get("bits", p.params.get("bits_input")))
    bw, lat = _dram_figures(p.dram)
    return dict(key=p.key, network=p.network.label, input_size=p.network.input_size,
                batch=p.network.batch, shape=f"{pe[0]}x{pe[1]}", rows=pe[0], cols=pe[1],
                bits=bits, frequency_mhz=hw.get("frequency_mhz"), params=canonical(p.params),
                dram=p.dram.name, bw_gbs=bw, latency_ns=lat, cpu=spec.cpu, mode=spec.mode,
                engine_key=p.engine_key, synth_key=p.synth_key, sim_version=simulator_version())


class _Run:
    """One run's submission and result handling (run_sweep)."""

    def __init__(self, spec, store, points, progress):
        self.spec, self.store, self.points, self.progress = spec, store, points, progress
        self.stats = dict(points=len(points), cached=0, computed=0, ok=0, infeasible=0, errors=0,
                          engine_tasks=0, synth_tasks=0, synth_errors=0)
        self.futures = {}       # future key -> (kind, payload, future)
        self.paths = {}
        self._last_table = 0.0

    def record(self, p, res: dict):
        row = dict(base_row(p, self.spec), **res)
        self.store.put_row(row)
        self.stats["computed"] += 1
        self.stats[row["status"] if row["status"] in ("ok", "infeasible") else "errors"] += 1
        self.table()

    def table(self, force=False):
        if force or time.time() - self._last_table >= TABLE_EVERY_S:
            rows = self.store.table_rows([p.key for p in self.points], self.spec.metrics,
                                         self.spec.synth != "none")
            self.paths = self.store.write_table(rows)
            self._last_table = time.time()
            return rows

    def submit(self, client, todo):
        spec = self.spec
        engines = {}
        for p in todo:
            if p.engine_key in engines:
                continue
            cached = self.store.engine(p.engine_key)
            if cached is not None:
                engines[p.engine_key] = client.scatter([cached], hash=False)[0]
                continue
            net = dict(source=p.network.source, input_size=p.network.input_size,
                       batch=p.network.batch)
            f = client.submit(engine_task, net, p.hw, spec.mode, spec.seed,
                              key=f"engine-{p.engine_key[:24]}")
            engines[p.engine_key] = f
            self.futures[f.key] = ("engine", p.engine_key, f)
            self.stats["engine_tasks"] += 1
        for p in todo:
            f = client.submit(point_task, engines[p.engine_key], p.hw, p.dram.config, spec.cpu,
                              key=f"point-{p.key[:24]}")
            self.futures[f.key] = ("point", p, f)
        target = spec.family if spec.synth == "xilinx" else "generic"
        for p in {p.synth_key: p for p in self.points if p.synth_key}.values():
            if self.store.synth(p.synth_key) is None:
                f = client.submit(synth_task, p.hw, target, spec.synth_timeout_s,
                                  key=f"synth-{p.synth_key[:24]}")
                self.futures[f.key] = ("synth", p.synth_key, f)
                self.stats["synth_tasks"] += 1

    def collect(self):
        from distributed import as_completed
        from tqdm import tqdm
        futs = [v[2] for v in self.futures.values()]
        bar = tqdm(total=len(futs), desc="sweep", unit="task", disable=not self.progress)
        for f in as_completed(futs):
            kind, what, _ = self.futures.pop(f.key)
            self.handle(kind, what, f)
            bar.update(1)
        bar.close()

    def handle(self, kind, what, f):
        err = None
        if f.status == "cancelled":        # the scheduler dropped it (lost, or shut down)
            err = "CancelledError: the Dask scheduler cancelled the task"
        elif f.status != "finished":
            e = f.exception()
            err = f"{type(e).__name__}: {e}"
        if kind == "engine":
            if err is None:
                self.store.put_engine(what, f.result())
        elif kind == "point":
            self.record(what, dict(status="error", reason=err) if err else f.result())
        else:
            r = f.result() if err is None else dict(synth_status="error", synth_reason=err)
            self.stats["synth_errors"] += r["synth_status"] != "ok"
            self.store.put_synth(what, r)
            self.table()


def run_sweep(spec: Spec, out_dir: str, scheduler: str | None = None, client=None,
              progress: bool = True, connect_timeout: float = 10.0, plots: bool = True) -> dict:
    """Run (or resume) `spec` into `out_dir`; returns the counts (`computed`: points computed
    in this run, 0 when everything was stored), the wall time and the output paths.
    `client`: an existing distributed.Client (else `scheduler` or an embedded LocalCluster)."""
    t0 = time.time()
    points = expand(spec)
    store = Store(out_dir)
    run = _Run(spec, store, points, progress)
    todo = [p for p in points if not store.done(p.key)]
    run.stats["cached"] = len(points) - len(todo)
    for p in [p for p in todo if p.infeasible]:     # not a configuration: nothing to run
        run.record(p, dict(status="infeasible", reason=p.infeasible))
    todo = [p for p in todo if not p.infeasible]
    need_synth = any(p.synth_key and store.synth(p.synth_key) is None for p in points)
    if todo or need_synth:
        if client is not None:
            run.submit(client, todo)
            run.collect()
        else:
            with dask_client(scheduler, spec.workers, connect_timeout) as c:
                run.submit(c, todo)
                run.collect()
    rows = run.table(force=True)
    res = dict(run.stats, wall_s=round(time.time() - t0, 3), out=out_dir, **run.paths)
    if plots and rows:
        from .pareto import report
        res.update(report(rows, out_dir, spec))
    summary = dict(res, spec=spec.path, finished=time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                time.gmtime()))
    store.write_json("summary.json", summary)
    store.log_run(summary)
    return res
