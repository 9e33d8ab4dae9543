#!/usr/bin/env bash
# Throwaway: one lora-bench binary under LW_EXP_SKIP variants, alternating, p50 step each.
cd "$(dirname "$0")/../.."
LW_BUNDLE=.device/exp/full.tar.xz source scripts/gpu/unpack.sh
source scripts/gpu/workloads.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
out=${OUT:-/tmp/out}; mkdir -p $out
variants="none shrink_qkv,shrink_o,expand_qkv,expand_o expand_qkv expand_o shrink_qkv,shrink_o same_stream"
for round in 1 2; do
  for w in $*; do
    workload_args $w
    vs=$variants; case $w in base*) vs=none ;; esac
    for v in $vs; do
      LW_EXP_SKIP=$v $work/bin/lora-bench throughput "${bench_engine[@]}" --prompt 128 --gen 32 "${workload[@]}" --json $out/$w-$v-$round.json > $out/$w-$v-$round.log 2>&1 || tail -3 $out/$w-$v-$round.log
      python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']['runs'][0]; print(sys.argv[2], sys.argv[3], sys.argv[4], round(r['step_seconds']['p50']*1e3,3))" $out/$w-$v-$round.json $w $v $round
    done
  done
done
cd $out && tar -czf ../exp.tgz . && rm -f * && mv ../exp.tgz .
