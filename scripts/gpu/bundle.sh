#!/usr/bin/env bash
# Builds the CUDA parts here (the GPU machine has no Qt, libarchive or PCRE2) and packs
# the GPU test binaries (all of tests/cuda) and the tools lora-bench and lora-serve, or
# the targets named as arguments, with the shared libraries that machine lacks into
# .device/bundle.tar.xz, which a device call carries and scripts/gpu/check.sh (tests)
# and scripts/gpu/bench.sh (benchmarks) run. LW_GPU_BUILD_DIR picks the build folder,
# LW_BUNDLE another bundle file (helpers that share the checkout each keep their own).
set -euo pipefail
cd "$(dirname "$0")/../.."

build=${LW_GPU_BUILD_DIR:-build-gpu}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLW_CUDA_ARCHITECTURES=90 "${launcher[@]}" >/dev/null
if [ $# -gt 0 ]; then targets="$*"; else targets="$(cd tests/cuda && ls test_*.cpp | sed 's/\.cpp$//') lora-bench lora-serve"; fi
cmake --build "$build" -j"$(nproc)" --target $targets

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bundle=${LW_BUNDLE:-.device/bundle.tar.xz}
mkdir -p "$stage/bin" "$stage/lib" "$(dirname "$bundle")"
for t in $targets; do
  binary=$(find "$build/tests" "$build/app" -type f -name "$t" -perm -u+x -print -quit)
  [ -n "$binary" ] || { echo "bundle: no binary for target $t under $build" >&2; exit 1; }
  cp "$binary" "$stage/bin/"
done
# Every library the binaries load, but the C/C++ runtime, the GPU driver and the CUDA
# 13 toolkit's own libraries, which the GPU machine has.
ldd "$stage"/bin/* | awk '/=> \//{print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^/]*|libcuda|libnvidia[^/]*|libcublas|libcublasLt|libcudart)\.so' |
  xargs -r cp -L -t "$stage/lib/"
tar -C "$stage" -cJf "$bundle" bin lib
echo "bundle: $bundle, $(du -h "$bundle" | cut -f1), binaries: $targets"
