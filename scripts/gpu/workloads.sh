# Sourced by bench.sh, compare.sh and profile.sh on the GPU machine: the engine the
# benchmarks run (`bench_engine`: the llama-7b shape unless LW_BENCH_MODEL, a 40 GiB pool
# of 256 KiB pages unless LW_BENCH_POOL_MIB) and the issue 4 workloads by name, as
# lora-bench throughput arguments. workload_args NAME sets the array `workload`; an
# unknown name is refused with the list of known ones.
bench_model=${LW_BENCH_MODEL:-llama-7b}
bench_engine=(--model "$bench_model" --backend cuda --pool-mib "${LW_BENCH_POOL_MIB:-40960}" --page-kib 256
              --max-num-batched-tokens 4096 --adapter-cache /tmp/lw-bench-adapters)
workloads_known="base1 base32 base64 mixed32 mixed64"
workload_args() {
  case $1 in
    base1) workload=(--batch 1) ;;
    base32) workload=(--batch 32) ;;
    base64) workload=(--batch 64) ;;
    mixed32) workload=(--batch 32 --distinct 32 --ranks 16) ;;
    mixed64) workload=(--batch 64 --distinct 64 --ranks 8-64) ;;
    *) echo "unknown workload '$1' (known: $workloads_known)" >&2; return 1 ;;
  esac
}
