"""`dsf sweep` (issue 17): a sweep on a 2-worker LocalCluster against values computed here, resume
without work, a worker killed mid-run, a cluster by address, infeasible points, bad specs."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from dsf_sim.errors import DsfError
from dsf_sim.sweep.points import combos, expand
from dsf_sim.sweep.runner import run_sweep
from dsf_sim.sweep.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
SMALL = str(ROOT / "configs" / "small_4x8.json")
NET = {"network": "alexnet", "input_size": 16}
PY = sys.executable


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def _spec(tmp_path, name="spec.yaml", **kw):
    d = dict(networks=[NET], hardware=SMALL,
             parameters={"processing_elements": [[8, 16], [8, 32]], "bits": [4, 8]},
             dram=[6.4, "ideal"])
    d.update(kw)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d))
    return load_spec(str(p))


def _table(out):
    return pq.read_table(os.path.join(out, "results.parquet")).to_pylist()


def _direct(shape, bits, dram):
    """The point computed here without Dask or the sweep package: dsf bench's code path."""
    from dsf_sim.api.model_file import resolve_network
    from dsf_sim.compiler.hardware import Hardware
    from dsf_sim.models.soc_model import SocConfig, run_soc
    from dsf_sim.perf import bench as B
    from dsf_sim.perf.report import engine_layers, load_hw
    d = load_hw(SMALL, bits).to_dict()
    d["processing_elements"] = list(shape)
    hw = Hardware.from_dict(d)
    model, _, _ = resolve_network("alexnet", hw, 16)
    layers = engine_layers(model, hw, progress=False)
    cfg = SocConfig.preset(dram if isinstance(dram, str) else
                           dict(bw_gbs=dram, latency_ns=80.0, rw_shared=True), "none")
    soc = run_soc(layers, hw, cfg, record_timeline=False)
    return dict(fps=soc.fps, engine_fps=B.totals(layers, hw)["fps"],
                dram_bytes=sum(soc.channel_bytes.values()))


def test_sweep_two_workers_table_and_resume(client, tmp_path):
    spec = _spec(tmp_path)
    out = str(tmp_path / "out")
    res = run_sweep(spec, out, client=client, progress=False)
    assert (res["points"], res["computed"], res["ok"], res["errors"]) == (8, 8, 8, 0)
    assert res["engine_tasks"] == 4        # one cycle simulation per (shape, bits), not per DRAM
    rows = _table(out)
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8
    assert {(r["shape"], r["bits"], r["dram"]) for r in rows} == {
        (s, b, d) for s in ("8x16", "8x32") for b in (4, 8) for d in ("6.4GB/s", "ideal")}
    assert len({r["worker_pid"] for r in rows}) == 2          # both workers took points
    for shape, bits, dram, name in (((8, 32), 8, "ideal", "ideal"), ((8, 16), 4, 6.4, "6.4GB/s")):
        want = _direct(shape, bits, dram)
        (r,) = [r for r in rows if r["shape"] == f"{shape[0]}x{shape[1]}" and r["bits"] == bits
                and r["dram"] == name]
        assert r["fps"] == pytest.approx(want["fps"], rel=1e-12)
        assert r["engine_fps"] == pytest.approx(want["engine_fps"], rel=1e-12)
        assert r["dram_bytes"] == want["dram_bytes"]
        assert r["pes"] == shape[0] * shape[1]
        assert r["ram_bits"] == 2 * 64 * shape[1] * bits      # two 64-deep weight banks
    slow = {r["shape"]: r["fps"] for r in rows if r["dram"] == "6.4GB/s" and r["bits"] == 4}
    fast = {r["shape"]: r["fps"] for r in rows if r["dram"] == "ideal" and r["bits"] == 4}
    assert all(slow[s] < fast[s] for s in slow)               # finite bandwidth costs time
    with open(os.path.join(out, "results.csv")) as f:
        assert len(f.read().strip().splitlines()) == 9
    assert os.path.getsize(os.path.join(out, "pareto_alexnet@16.png")) > 1000
    assert "alexnet@16" in json.load(open(os.path.join(out, "pareto.json")))

    again = run_sweep(spec, out, client=client, progress=False)
    assert (again["computed"], again["cached"], again["engine_tasks"]) == (0, 8, 0)
    assert _table(out) == rows

    for r in rows[:2]:                         # a crash lost two points: only they are redone
        os.remove(os.path.join(out, "points", r["key"] + ".json"))
    part = run_sweep(spec, out, client=client, progress=False)
    assert (part["computed"], part["engine_tasks"]) == (2, 0)   # the engine result is stored
    bookkeeping = ("engine_s", "soc_s", "worker_pid")       # when and where, not what
    assert [{k: v for k, v in r.items() if k not in bookkeeping} for r in _table(out)] == \
        [{k: v for k, v in r.items() if k not in bookkeeping} for r in rows]
    with open(os.path.join(out, "runs.jsonl")) as f:
        assert [json.loads(line)["computed"] for line in f] == [8, 0, 2]


def test_killed_worker_loses_nothing(client, tmp_path):
    spec = _spec(tmp_path, dram=[6.4, 12.8])
    out = str(tmp_path / "out")
    done = {}
    th = threading.Thread(target=lambda: done.update(run_sweep(spec, out, client=client,
                                                               progress=False)))
    pids = client.run(os.getpid)
    th.start()
    killed = None
    t0 = time.time()
    while killed is None and th.is_alive() and time.time() - t0 < 300:
        busy = {w: ks for w, ks in client.processing().items() if ks}
        started = os.listdir(os.path.join(out, "points")) if os.path.isdir(
            os.path.join(out, "points")) else []
        if started and busy:      # some points stored, others running: kill a busy worker
            w = sorted(busy)[0]
            killed = (pids[w], busy[w])
            os.kill(pids[w], signal.SIGKILL)
        time.sleep(0.02)
    th.join(timeout=600)
    assert killed is not None and killed[1], "no worker was killed while running a task"
    assert killed[0] not in client.run(os.getpid).values()
    assert (done["points"], done["computed"], done["ok"], done["errors"]) == (8, 8, 8, 0)
    rows = _table(out)
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8
    from dsf_sim.sweep.tasks import engine_task, point_task
    engines = {}
    for p in expand(spec):                    # every point, computed directly in this process
        net = dict(source=p.network.source, input_size=p.network.input_size, batch=1)
        if p.engine_key not in engines:
            engines[p.engine_key] = engine_task(net, p.hw, "timing", 0)
        want = point_task(engines[p.engine_key], p.hw, p.dram.config, "none")
        (r,) = [r for r in rows if r["key"] == p.key]
        for k in ("fps", "engine_fps", "dram_bytes", "cycles", "memory_bound_layers"):
            assert r[k] == want[k], (k, r["shape"], r["bits"], r["dram"])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sweep_by_address_on_dask_processes(tmp_path):
    dask = str(Path(PY).parent / "dask")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = []
    try:
        procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                       str(port), "--no-dashboard"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen([dask, "worker", addr, "--nthreads", "1", "--no-nanny",
                                       "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        spec = tmp_path / "spec.yaml"
        spec.write_text(yaml.safe_dump(dict(networks=[NET], hardware=SMALL,
                                            parameters={"bits": [4, 8]}, dram=[12.8])))
        out = str(tmp_path / "out")
        r = subprocess.run([PY, "-m", "dsf_sim.cli", "sweep", str(spec), "--scheduler", addr,
                            "--out", out, "--no-progress", "--connect-timeout", "60"],
                           capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "sweep: 2 points: 2 computed (2 ok" in r.stdout
        rows = _table(out)
        assert len(rows) == 2
        assert {row["worker_pid"] for row in rows} == {procs[1].pid}   # ran on that worker
        assert all(row["fps"] > 0 and row["status"] == "ok" for row in rows)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


TINY = dict(processing_elements=[1, 2], frequency_mhz=100, bits_input=8, bits_weights=8,
            bits_sum=17, bits_bias=8, max_batch_size=1, max_channels_in=64, max_kernel_size=1,
            max_image_size=8, ram_weights_depth=4, ram_edges_depth=4, axi_width=32)


def test_infeasible_points_named_and_synth_cached(client, tmp_path):
    hw = tmp_path / "tiny.json"
    hw.write_text(json.dumps(TINY))
    spec = _spec(tmp_path, hardware=str(hw), parameters={"axi_width": [32, 16]}, dram=[6.4],
                 synth="generic", synth_timeout_s=600)
    out = str(tmp_path / "out")
    res = run_sweep(spec, out, client=client, progress=False)
    assert (res["computed"], res["infeasible"], res["errors"], res["synth_tasks"]) == (2, 2, 0, 1)
    rows = {json.loads(r["params"])["axi_width"]: r for r in _table(out)}
    assert rows[16]["status"] == "infeasible"
    assert rows[16]["reason"].startswith("hardware: axi_width = 16 is invalid: allowed one of")
    assert rows[16]["cells"] is None                        # no configuration, no synthesis
    r = rows[32]
    assert r["status"] == "infeasible" and r["fps"] is None
    assert r["reason"].startswith("HardwareError: ") and "is invalid: allowed" in r["reason"]
    assert r["synth_status"] == "ok" and r["cells"] > 1000 and r["synth_target"] == "generic"
    again = run_sweep(spec, out, client=client, progress=False)
    assert (again["computed"], again["synth_tasks"]) == (0, 0)


def test_exact_mode_runs_the_twin_bit_exact(client, tmp_path):
    spec = _spec(tmp_path, parameters={"processing_elements": [[8, 32]]}, dram=["ideal"], mode="exact",
                 metrics=["fps", "cycles", "bit_exact", "twin_cycles"])
    res = run_sweep(spec, str(tmp_path / "out"), client=client, progress=False)
    assert (res["ok"], res["errors"]) == (1, 0)
    (r,) = _table(str(tmp_path / "out"))
    assert r["bit_exact"] is True and r["twin_cycles"] > r["cycles"] > 0
    assert "utilisation" not in r                            # only the metrics asked for


def test_random_sample_is_seeded_subset_of_grid(tmp_path):
    params = {"processing_elements": [[4, 8], [8, 8], [4, 16]], "bits": [4, 8],
              "frequency_mhz": {"from": 100, "to": 300, "step": 100}}
    grid = combos(_spec(tmp_path, parameters=params))
    assert len(grid) == 18
    a = combos(_spec(tmp_path, parameters=params, sample={"random": 5, "seed": 3}))
    b = combos(_spec(tmp_path, parameters=params, sample={"random": 5, "seed": 3}))
    assert a == b and len(a) == 5 and all(c in grid for c in a)
    assert len({json.dumps(c) for c in a}) == 5


def test_keys_follow_their_inputs(tmp_path):
    one = expand(_spec(tmp_path, dram=[6.4, 12.8]))
    assert [p.key for p in one] == [p.key for p in expand(_spec(tmp_path, dram=[6.4, 12.8]))]
    by = {(p.params["processing_elements"][1], p.params["bits"], p.dram.name): p for p in one}
    a, b = by[(16, 4, "6.4GB/s")], by[(16, 4, "12.8GB/s")]
    assert a.engine_key == b.engine_key and a.key != b.key   # DRAM: only the SoC step
    c = by[(16, 8, "6.4GB/s")]
    assert c.engine_key != a.engine_key
    other = expand(_spec(tmp_path, dram=[6.4], cpu="a53"))
    assert {p.key for p in other}.isdisjoint({p.key for p in one})


BAD = [
    (dict(netwroks=[NET]), r"key 'netwroks'.*did you mean 'networks'"),
    (dict(parameters=[1, 2]), r"parameters = \[1, 2\] is invalid: allowed a mapping"),
    (dict(parameters={"bits": []}), r"parameters.bits = \[\] is invalid: allowed a non-empty"),
    (dict(parameters={"frequency_mhz": {"from": 5, "to": 1}}), r"parameters.frequency_mhz = \[\]"),
    (dict(parameters={"rows": [4]}), r"parameters.rows = \[4\] is invalid: allowed one of"),
    (dict(parameters={"data_dir": ["x"]}), r"parameters.data_dir"),
    (dict(networks=["resnet51"]), r"networks\[\].network = 'resnet51' is invalid"),
    (dict(networks=[{"network": "alexnet", "size": 3}]), r"networks\[\].size"),
    (dict(networks=[]), r"networks = \[\] is invalid"),
    (dict(dram=["ddr9"]), r"dram = 'ddr9' is invalid: allowed one of \['ddr4-2400'"),
    (dict(dram=[-1]), r"dram.bw_gbs = -1 is invalid: allowed a finite number > 0"),
    (dict(dram=[{"bw": 3}]), r"dram = \{'bw': 3\} is invalid"),
    (dict(mode="fast"), r"mode = 'fast' is invalid: allowed one of \['timing', 'exact'\]"),
    (dict(synth="vivado"), r"synth = 'vivado'"),
    (dict(sample={"random": 0}), r"sample.random = 0 is invalid: allowed an integer >= 1"),
    (dict(sample="latin"), r"sample = 'latin'"),
    (dict(metrics=["fsp"]), r"metrics = 'fsp' is invalid.*did you mean 'fps'"),
    (dict(hardware="configs/nope.json"), r"hardware = 'configs/nope.json' is invalid"),
    (dict(cpu="m1"), r"cpu = 'm1' is invalid"),
]


@pytest.mark.parametrize("change,match", BAD)
def test_bad_spec_is_a_named_error(change, match):
    d = dict(networks=[NET], hardware=SMALL, dram=[6.4])
    d.update(change)
    with pytest.raises(DsfError, match=match):
        parse_spec(d)


def test_bad_spec_structure(tmp_path):
    with pytest.raises(DsfError, match=r"key 'hardware' = None is invalid: allowed present"):
        parse_spec(dict(networks=[NET]))
    model = tmp_path / "m.py"
    model.write_text("def build(hw):\n    pass\n")
    with pytest.raises(DsfError, match=r"networks\[\].input_size = 8 is invalid: allowed absent"):
        parse_spec(dict(networks=[{"network": str(model), "input_size": 8}], hardware=SMALL))
    (tmp_path / "bad.yaml").write_text("networks: [alexnet\n")
    with pytest.raises(DsfError, match=r"spec file = .*bad.yaml' is invalid: allowed valid YAML"):
        load_spec(str(tmp_path / "bad.yaml"))
    dup = dict(networks=[NET], hardware=SMALL, parameters={"bits": [4, 4]})
    with pytest.raises(DsfError, match=r"parameters.bits = \[4, 4\] is invalid: allowed a list "
                                       r"without repeated"):
        parse_spec(dup)


def test_cli_errors_are_one_line(tmp_path, capsys):
    from dsf_sim.cli import main
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(dict(networks=["alexnet"], hardware=SMALL, dram=["ddr9"])))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dsf: error: sweep spec: dram = 'ddr9'")
    p.write_text(yaml.safe_dump(dict(networks=[NET], hardware=SMALL, dram=[6.4])))
    port = _free_port()                                   # nobody listens there
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress",
                 "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"dsf: error: --scheduler = 'tcp://127.0.0.1:{port}' is invalid: "
                             f"allowed the address of a running Dask scheduler")
    assert not os.path.exists(tmp_path / "o" / "results.parquet")
    assert main(["sweep", str(p), "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dsf: error: --workers is invalid with --scheduler")
