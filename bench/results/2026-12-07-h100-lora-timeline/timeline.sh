#!/usr/bin/env bash
# Throwaway: Nsight Systems timelines (graph nodes traced) of a few lora-bench steps.
cd "$(dirname "$0")/../.."
LW_BUNDLE=.device/exp/full.tar.xz source scripts/gpu/unpack.sh
source scripts/gpu/workloads.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
find / -name QdstrmImporter -type f 2>/dev/null | head; find / -name nsys -type f -perm -u+x 2>/dev/null
imp=$(find / -name QdstrmImporter -type f 2>/dev/null | head -1); [ -n "$imp" ] || { echo no importer; exit 3; }
nsys=$(find "$(dirname "$imp")/.." -name nsys -type f -perm -u+x | head -1)
echo "nsys: $nsys"; [ -n "$nsys" ] || exit 3
"$nsys" --version
out=${OUT:-/tmp/out}; mkdir -p $out
for w in $*; do
  workload_args $w
  timeout 150 "$nsys" profile -t cuda --cuda-graph-trace=node --force-overwrite true -o /tmp/$w \
    $work/bin/lora-bench throughput "${bench_engine[@]}" --prompt 128 --gen 6 --warmup 0 "${workload[@]}" > $out/$w.log 2>&1 || { echo "$w profile failed"; tail -5 $out/$w.log; }
  ls -la /tmp/$w.*; LD_LIBRARY_PATH=$PWD/.device/exp/lib:$LD_LIBRARY_PATH timeout 90 "$imp" -i /tmp/$w.qdstrm 2>&1 > /dev/null; ls -la /tmp/$w.*
  timeout 100 "$nsys" export -t sqlite -o /tmp/$w.sqlite /tmp/$w.nsys-rep > /dev/null 2>&1
  python3 - /tmp/$w.sqlite $out/$w-kernels.csv <<'PY'
import sqlite3, sys, csv
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select k.start, k.end, k.streamId, s.value from CUPTI_ACTIVITY_KIND_KERNEL k join StringIds s on s.id = k.shortName order by k.start").fetchall()
with open(sys.argv[2], "w") as f:
    w = csv.writer(f); w.writerow(["start", "end", "stream", "name"]); w.writerows(rows)
print(len(rows), "kernels")
PY
  ls -la $out
done
cd $out && tar -czf ../tl.tgz . && rm -f * && mv ../tl.tgz .
