#!/usr/bin/env bash
# Runs on the GPU machine, in a device call that carries .device (see bundle.sh, which
# packs lora-bench): the issue 4 benchmarks on the llama-7b shape (fp16) and the
# transformers+PEFT baseline on the same workloads, then one short table with our/peer
# ratios (bench/summarize.py). Writes $OUT/summary.json (every run's JSON) and
# $OUT/bench.log.
# Usage (device call): bash scripts/gpu/bench.sh [quick|full] [PART...]
#   quick: 32 generated tokens, 20 s traces over 1000 adapters (about 4.5 minutes)
#   full:  128 generated tokens, 120 s traces over 1000 and 2000 adapters (over 10
#          minutes: run its parts in separate calls)
#   PART:  throughput, traces, workingset, peer (default: all four)
# LW_BENCH_MODEL (llama-7b), LW_BENCH_POOL_MIB (40960), LW_BENCH_TRACE_ADAPTERS and
# LW_BENCH_TRACE_SECONDS override the model, the pool and the traces.
set -uo pipefail
cd "$(dirname "$0")/../.."

mode=${1:-quick}
case $mode in
  quick) gen=32 trace_seconds=20 trace_adapters="1000" drain=30 ;;
  full) gen=128 trace_seconds=120 trace_adapters="1000 2000" drain=120 ;;
  *) echo "bench.sh: unknown mode '$mode' (quick or full)" >&2; exit 2 ;;
esac
trace_seconds=${LW_BENCH_TRACE_SECONDS:-$trace_seconds}
trace_adapters=${LW_BENCH_TRACE_ADAPTERS:-$trace_adapters}
parts=" ${*:2} "
[ "$parts" = "  " ] && parts=" throughput traces workingset peer "
for part in $parts; do
  case $part in throughput | traces | workingset | peer) ;; *) echo "bench.sh: unknown part '$part'" >&2; exit 2 ;; esac
done
source scripts/gpu/unpack.sh
out=${OUT:-$PWD/bench-out}
runs="$work/runs"
mkdir -p "$out" "$runs"
exec > >(tee "$out/bench.log") 2>&1

source scripts/gpu/workloads.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
bench() {
  local name=$1
  shift
  echo "== lora-bench $name: $*"
  "$work/bin/lora-bench" "$@" --json "$runs/$name.json" || echo "== lora-bench $name FAILED (exit $?)"
}
peer() {
  local name=$1
  shift
  echo "== peft_baseline $name: $*"
  python3 bench/peft_baseline.py --shape "$bench_model" --prompt 128 --gen "$gen" "$@" --json "$runs/$name.json" ||
    echo "== peft_baseline $name FAILED (exit $?)"
}

# Without a working CUDA backend the engine falls back to the CPU, where a 7B sweep
# would run for hours: probe with the tiny shape first.
"$work/bin/lora-bench" throughput --model tiny --backend cuda --batch 1 --prompt 4 --gen 4 --warmup 0 \
  --pool-mib 256 --adapter-cache /tmp/lw-bench-adapters --json "$runs/probe.json" >/dev/null 2>&1
device=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['device'])" "$runs/probe.json" 2>/dev/null)
echo "engine device: ${device:-none (the probe failed)}"
if [[ $device != cuda* ]]; then
  echo "== the engine has no CUDA backend here: lora-bench runs skipped"
fi
if [[ $device == cuda* && $parts == *" throughput "* ]]; then
  bench base throughput "${bench_engine[@]}" --batch 1,8,32,64 --prompt 128 --gen "$gen"
  for w in mixed32 mixed64; do
    workload_args $w
    bench $w throughput "${bench_engine[@]}" "${workload[@]}" --prompt 128 --gen "$gen"
  done
fi
if [[ $device == cuda* && $parts == *" traces "* ]]; then
  for n in $trace_adapters; do
    for s in s1 s2; do
      ranks=8
      [ $s = s2 ] && ranks=8-64
      bench "$s-$n" trace "${bench_engine[@]}" --adapters "$n" --ranks "$ranks" --rate 10 --duration "$trace_seconds" \
        --max-loras 128 --max-cpu-loras 256 --max-num-seqs 256 --timeout "$drain"
    done
  done
fi
if [[ $device == cuda* && $parts == *" workingset "* ]]; then
  # TTFT when the adapters in use are 4x what the pool holds (max_loras) against all of
  # them resident: rank-16 adapters (33 MB for llama-7b), all in host RAM, the pool warmed
  # first, so that the difference is the host -> pool loads.
  for ws in resident:128 4x:512; do
    bench "ws-${ws%%:*}" trace "${bench_engine[@]}" --adapters "${ws##*:}" --ranks 16 --rate 10 --duration "$trace_seconds" \
      --max-loras 128 --max-cpu-loras 512 --max-num-seqs 256 --warm-pool --timeout "$drain"
  done
fi
rm -f "$runs/probe.json"

if [[ $parts == *" peer "* ]]; then
  python3 -c "import peft" 2>/dev/null ||
    { [ -n "$(ls .bench-wheels/peft-*.whl 2>/dev/null)" ] &&
      python3 -m pip install -q --no-index --no-deps --target /tmp/peft-site .bench-wheels/peft-*.whl &&
      export PYTHONPATH=/tmp/peft-site${PYTHONPATH:+:$PYTHONPATH}; }
  peer peft-base32 --batch 32 --distinct 0
  peer peft-mixed32 --batch 32 --distinct 32 --ranks 16
fi

python3 bench/summarize.py "$runs" "$out/summary.json"
