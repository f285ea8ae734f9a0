#!/usr/bin/env bash
# Installs every system and Python package dsf_sim needs on a fresh Debian/Ubuntu machine.
# Usage: scripts/setup.sh [VENV_DIR]   (default .venv)
set -euo pipefail
VENV=${1:-.venv}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PKGS="build-essential make gcc g++ verilator iverilog yosys tcl gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user python3 python3-venv python3-dev python3-pip git"
missing=""
for p in $APT_PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "[setup] apt-get install:$missing"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
  echo "[setup] system packages present: $APT_PKGS"
fi

# Debian's own Python 3.11 (PEP 668: never pip into the system interpreter).
PYTHON=${PYTHON:-/usr/bin/python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev]"
echo "[setup] done: $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])'), verilator $(verilator --version | cut -d" " -f2), yosys $(yosys -V 2>/dev/null | cut -d" " -f2)"
