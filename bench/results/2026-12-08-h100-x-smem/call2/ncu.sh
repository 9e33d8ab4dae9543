#!/usr/bin/env bash
# Nsight Compute on xs's first 32-row decode_gemm launches (carry .device/next5).
d=.device/next5
export LW_BUNDLE=$d/gs4.tar.xz
source scripts/gpu/unpack.sh
source scripts/gpu/workloads.sh
workload_args base32
xs=$(mktemp -d); tar -C "$xs" -xJf $d/xs-bin.tar.xz
timeout 200 ncu --set full --kernel-name-base demangled -k "regex:decode_gemm_kernel<__half, \(int\)4, \(bool\)0" -c 3 \
  "$xs/bin/lora-bench" throughput "${bench_engine[@]}" --prompt 128 --gen 2 --warmup 0 "${workload[@]}" \
  --decode-gemm always >"$OUT/ncu-decode-gemm-32-xs.txt" 2>&1 || tail -5 "$OUT/ncu-decode-gemm-32-xs.txt"
grep -E "decode_gemm_kernel|Duration|DRAM Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|Registers Per|Achieved Occupancy|Executed Ipc A|Issue Slots Busy|One or More|Stall|Grid Size|Shared Memory Config" \
  "$OUT/ncu-decode-gemm-32-xs.txt" | head -60
