#!/usr/bin/env bash
# Lint dsf_engine with verilator -Wall against one or more config_hw.svh files
# (default: rtl/tb/config_hw_example.svh). Usage: rtl/tb/lint.sh [config_hw.svh ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rtl="$(dirname "$here")"
cfgs=("$@")
[ ${#cfgs[@]} -eq 0 ] && cfgs=("$here/config_hw_example.svh")
for cfg in "${cfgs[@]}"; do
  tmp="$(mktemp -d)"
  cp "$cfg" "$tmp/config_hw.svh"
  verilator --lint-only -Wall "-I$tmp" "-I$rtl" "$rtl"/*.sv --top-module dsf_engine
  rm -rf "$tmp"
  echo "lint OK: $cfg"
done
