#!/usr/bin/env bash
# Lint dsf_engine with verilator -Wall for hardware configurations (default: configs/*.json,
# each with both reset styles), generating the package dsf_cfg.sv and config_hw.svh from each.
# Usage: rtl/tb/lint.sh [hardware.json ...]      (PYTHON defaults to .venv/bin/python)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rtl="$(dirname "$here")"
root="$(dirname "$rtl")"
py="${PYTHON:-$root/.venv/bin/python}"
cfgs=("$@")
[ ${#cfgs[@]} -eq 0 ] && cfgs=("$root"/configs/*.json)
for cfg in "${cfgs[@]}"; do
  for async in True False; do
    tmp="$(mktemp -d)"
    "$py" -c "import json, sys; from dsf_sim import Hardware; d = json.load(open(sys.argv[1])); \
d['async_resetn'] = $async; Hardware.from_dict(d).export(sys.argv[2])" "$cfg" "$tmp" >/dev/null
    verilator --lint-only -Wall "-I$tmp" "$tmp/dsf_cfg.sv" "$rtl"/*.sv --top-module dsf_engine
    rm -rf "$tmp"
    echo "lint OK: $cfg (async_resetn=$async)"
  done
done
