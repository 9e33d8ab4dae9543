#!/usr/bin/env bash
# Runs on the GPU machine, in a device call that carries .device (see bundle.sh):
# unpacks the bundle, prints the device, runs every GPU test (bin/test_*; the tools
# in the bundle are for bench.sh) and prints a summary.
# Usage (device call): bash scripts/gpu/check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."

source scripts/gpu/unpack.sh
export LW_SOURCE_DIR="$PWD" QT_QPA_PLATFORM=offscreen

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
status=0
summary=()
for t in "$work"/bin/test_*; do
  name=$(basename "$t")
  if "$t" > "$work/$name.log" 2>&1; then result=passed; else result=FAILED; status=1; fi
  totals=$(grep -E '^Totals:' "$work/$name.log" | tail -n 1)
  summary+=("$(printf '%-32s %-7s %s' "$name" "$result" "$totals")")
  [ "$result" = FAILED ] && cat "$work/$name.log"
done
# One file for all the logs: a device call brings back only a few files.
[ -n "${OUT:-}" ] && tar -C "$work" -czf "$OUT/check-logs.tar.gz" $(cd "$work" && ls test_*.log)
printf '%s\n' "${summary[@]}"
exit $status
