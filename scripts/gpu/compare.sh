#!/usr/bin/env bash
# Runs on the GPU machine: the same lora-bench throughput workloads from two bundles in
# one device call, alternating A and B, and the B/A ratio of their p50 decode steps
# (bench/compare_runs.py). Two machines of one kind can differ by 5% on the same binary,
# so a change is measured against its base only within one call. A is LW_BUNDLE
# (default .device/bundle.tar.xz), B is LW_BUNDLE_B; a bundle of lora-bench alone is
# enough (LW_BUNDLE=.device/b.tar.xz scripts/gpu/bundle.sh lora-bench), and B may hold
# bin/ alone (tar -cJf b.tar.xz bin): its lora-bench then loads A's libraries, which
# keeps two bundles well within a call's carry. The runs' JSON and logs land in
# $OUT/compare-<B's file name>.tar.gz (a device call brings back only a few files, and
# one call may compare A with several B).
# Usage (device call): LW_BUNDLE_B=FILE bash scripts/gpu/compare.sh [WORKLOAD...]
#   WORKLOAD: as scripts/gpu/workloads.sh (default: base32 mixed32 mixed64)
#   LW_COMPARE_REPEATS: rounds of A then B (default 2); the engine as bench.sh's
#   (workloads.sh: LW_BENCH_MODEL, LW_BENCH_POOL_MIB)
set -uo pipefail
cd "$(dirname "$0")/../.."
[ -n "${LW_BUNDLE_B:-}" ] || { echo "compare.sh: set LW_BUNDLE_B to the bundle to compare" >&2; exit 2; }
source scripts/gpu/workloads.sh
workloads=${*:-base32 mixed32 mixed64}
for w in $workloads; do workload_args "$w" || exit 2; done

source scripts/gpu/unpack.sh
bin_a="$work/bin/lora-bench"
LW_BUNDLE=$LW_BUNDLE_B source scripts/gpu/unpack.sh
bin_b="$work/bin/lora-bench"
out=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
engine=(throughput "${bench_engine[@]}" --prompt 128 --gen 32)
for round in $(seq "${LW_COMPARE_REPEATS:-2}"); do
  for w in $workloads; do
    workload_args "$w"
    for side in a b; do
      binary=bin_$side
      "${!binary}" "${engine[@]}" "${workload[@]}" --json "$out/$w-$side-$round.json" >"$out/$w-$side-$round.log" 2>&1 ||
        { echo "== $w ($side, round $round) failed:"; tail -5 "$out/$w-$side-$round.log"; }
    done
  done
done
python3 bench/compare_runs.py "$out"
results=${OUT:-$PWD}/compare-$(basename "$LW_BUNDLE_B" .tar.xz).tar.gz
tar -C "$out" -czf "$results" . && echo "runs: $results"
