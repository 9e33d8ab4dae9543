#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a while,
# starting from its seed corpus in tests/data/fuzz/<parser>/ (which also holds every
# input that once found a bug). Usage: fuzz.sh [SECONDS] (LW_FUZZ_SEED: another seed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"

cmake -S . -B build-fuzz -G Ninja -DLW_FUZZ=ON -DLW_BUILD_TESTS=OFF -DLW_ENABLE_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
targets=$(cd fuzz && ls fuzz_*.cpp 2>/dev/null | sed 's/\.cpp$//')
[ -n "$targets" ] || { echo "no fuzz targets"; exit 0; }
cmake --build build-fuzz -j"$(nproc)" --target $targets

for t in $targets; do
  parser=${t#fuzz_}
  corpus=$(mktemp -d)
  [ -d "tests/data/fuzz/$parser" ] && cp -r "tests/data/fuzz/$parser/." "$corpus/"
  echo "fuzzing $parser for ${seconds}s"
  # A fixed seed keeps CI repeatable: the same inputs in the same order on every run.
  (cd build-fuzz && "./fuzz/$t" -seed="${LW_FUZZ_SEED:-1}" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
     -print_final_stats=0 "$corpus" 2>&1 | tail -n 3)
  rm -rf "$corpus"
done
echo "fuzzing: $(echo $targets | wc -w) targets ran ${seconds}s each without a finding"
