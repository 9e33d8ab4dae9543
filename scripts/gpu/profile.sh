#!/usr/bin/env bash
# Runs on the GPU machine (a device call carrying the bundle of lora-bench, see
# bundle.sh): times every kernel of a few lora-bench steps under Nsight Compute and
# prints, per workload, where the last decode step's kernel time goes
# (bench/kernel_profile.py). The CSVs land in $OUT.
# Usage (device call): bash scripts/gpu/profile.sh [WORKLOAD...]
#   WORKLOAD: base1, base32, base64, mixed32, mixed64 (default: all)
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/gpu/unpack.sh
out=${OUT:-$PWD/profile-out}
mkdir -p "$out"
source scripts/gpu/workloads.sh
# bench.sh's engine, with a larger step budget (the later flag wins) and 4 generated tokens.
engine=(throughput "${bench_engine[@]}" --max-num-batched-tokens 8192 --prompt 128 --gen 4 --warmup 0)
for w in ${*:-$workloads_known}; do
  workload_args "$w" || exit 2
  ncu --csv --page raw --metrics gpu__time_duration.sum --cache-control none --clock-control none \
    --log-file "$out/$w.csv" "$work/bin/lora-bench" "${engine[@]}" "${workload[@]}" >"$out/$w.log" 2>&1 ||
    { echo "== $w: ncu or lora-bench failed"; tail -5 "$out/$w.log"; continue; }
  python3 bench/kernel_profile.py "$out/$w.csv" "$w"
done
