"""A wheel that works anywhere: built from this checkout, installed into a fresh venv in a
temporary folder, it carries the RTL, testbench, firmware and configs (dsf_sim/assets.py) and
runs the seed example on the twin and on Verilator with builds from its own copies."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}: {(r.stdout + r.stderr)[-4000:]}"
    return r


def test_every_code_package_is_in_the_wheel_list():
    import tomllib
    listed = set(tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))
                 ["tool"]["setuptools"]["packages"])
    for d, _, files in os.walk(os.path.join(ROOT, "dsf_sim")):
        if "__pycache__" in d or not any(f.endswith(".py") for f in files):
            continue
        pkg = os.path.relpath(d, ROOT).replace(os.sep, ".")
        assert pkg in listed, f"{pkg} has modules but is not in pyproject's packages"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation",
          "-q", "-w", str(tmp / "dist")], timeout=600)
    whl = glob.glob(str(tmp / "dist" / "dsf_sim-*.whl"))
    assert len(whl) == 1, whl
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    py = str(venv / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", whl[0]], timeout=600)
    # the dependencies (TensorFlow, QKeras, numba, ...) come from the project's venv, appended
    # after the fresh venv's own site-packages (so dsf_sim resolves to the wheel)
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout
    with open(os.path.join(site.strip(), "zz_project_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    return tmp, venv, whl[0]


def _env(tmp):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DSF_BUILD_DIR")}
    env.update(DSF_BUILD_DIR=str(tmp / "builds"), DSF_CERT_DIR=str(tmp / "certs"))
    return env


def test_wheel_carries_sources_and_runs_outside_the_repo(installed):
    tmp, venv, whl = installed
    names = zipfile.ZipFile(whl).namelist()
    for rel in ("rtl/dsf_engine.sv", "rtl/dsf_post_lane.sv", "rtl/tb/tb_system.sv",
                "rtl/tb/tb_engine.cpp", "firmware/dsf_fw.c", "firmware/dsf_fw.h",
                "firmware/xilinx/dsf_main_xil.c",
                "configs/kraken.json"):
        assert f"dsf_sim/_assets/{rel}" in names, rel
    work = tmp / "user"
    work.mkdir()
    seed = open(os.path.join(ROOT, "examples", "seed_example.py")).read()
    (work / "seed_example.py").write_text(seed)
    py = str(venv / "bin" / "python")
    where = _run([py, "-c", "import dsf_sim, dsf_sim.assets as a; print(dsf_sim.__file__); "
                  "print(a.asset_dir('rtl')); print(a.in_checkout())"], cwd=work,
                 env=_env(tmp)).stdout.split()
    assert where[0].startswith(str(venv)) and where[1].startswith(str(venv)), where
    assert where[2] == "False"
    # the seed example as a user runs it: export + Verilator system testbench (built from the
    # wheel's RTL, testbench and firmware), then the twin through the installed `dsf`
    r = _run([py, "seed_example.py"], cwd=work, env=_env(tmp), timeout=1800)
    assert "bit-exact at every level" in r.stdout and "verify_inference[verilator" in r.stdout
    r = _run([str(venv / "bin" / "dsf"), "verify", "seed_example.py", "--sim", "model",
              "--out", str(work / "twin")], cwd=work, env=_env(tmp), timeout=1800)
    assert "bit-exact at every level" in r.stdout
    r = _run([str(venv / "bin" / "dsf"), "bench", "alexnet", "--hw", "kraken", "--input-size",
              "32", "--no-plots"], cwd=work, env=_env(tmp), timeout=900)
    assert "engine-only" in r.stdout
    assert os.listdir(tmp / "builds")                     # its own builds, not the checkout's
