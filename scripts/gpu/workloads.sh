# Sourced by profile.sh and compare.sh on the GPU machine: the issue 4 workloads by name,
# as lora-bench throughput arguments on the llama-7b shape. workload_args NAME sets the
# array `workload`; an unknown name is refused with the list of known ones.
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
