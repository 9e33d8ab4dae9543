#!/usr/bin/env bash
# One device call (carry .device/next5): gs4 = branch gemm-shrink at d943b9e (full bundle:
# its libraries serve the bin-only ones), xs = branch x-smem at 2c7cf87 (gs4 plus x staged
# once per block in shared memory), main = 336badb. Every GPU suite of gs4, xs's
# decode_gemm and engine suites, xs against main (B/A > 1: xs faster; tuning logs in the
# tarball), and an Nsight Compute look at xs's first 32-row decode_gemm launches.
export LW_GEMM_TUNING_LOG=1
d=.device/next5
export LW_BUNDLE=$d/gs4.tar.xz
source scripts/gpu/unpack.sh   # gs4's libraries, for the bin-only bundles too
LW_BUNDLE=$d/xs-bin.tar.xz bash scripts/gpu/check.sh 2>&1 | tail -3
mv "$OUT"/check-logs.tar.gz "$OUT"/check-xs.tar.gz
echo "== xs (timed) vs main"
LW_COMPARE_REPEATS=2 LW_BUNDLE=$d/xs-bin.tar.xz LW_BUNDLE_B=$d/main-bin.tar.xz bash scripts/gpu/compare.sh base32 mixed32 mixed64 2>&1 | tail -6
for w in mixed32 mixed64; do echo "-- xs tuning, $w:"; tar -xzOf "$OUT"/compare-main-bin.tar.gz ./$w-a-1.log | grep "gemm tuning" | sort -u; done
echo "== every GPU suite of gs4"
timeout 200 bash scripts/gpu/check.sh 2>&1 | tail -12
mv "$OUT"/check-logs.tar.gz "$OUT"/check-gs4.tar.gz
source scripts/gpu/workloads.sh
workload_args base32
xs=$(mktemp -d); tar -C "$xs" -xJf $d/xs-bin.tar.xz
echo "== ncu: the first decode_gemm launches of 32 rows (xs, base32, forced on)"
timeout 150 ncu --set full --kernel-name-base demangled -k "regex:decode_gemm_kernel<__half, 4" -c 2 \
  "$xs/bin/lora-bench" throughput "${bench_engine[@]}" --prompt 128 --gen 2 --warmup 0 "${workload[@]}" \
  --decode-gemm always >"$OUT/ncu-decode-gemm-32-xs.txt" 2>&1 || tail -5 "$OUT/ncu-decode-gemm-32-xs.txt"
grep -E "decode_gemm_kernel|Duration|DRAM Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|Registers Per|Achieved Occupancy|Executed Ipc A|Issue Slots Busy|One or More|Stall" \
  "$OUT/ncu-decode-gemm-32-xs.txt" | head -40
