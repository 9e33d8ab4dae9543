#!/usr/bin/env bash
# Builds the CUDA parts here (the GPU machine has no Qt, libarchive or PCRE2) and packs
# the GPU test binaries with the shared libraries that machine lacks into
# .device/bundle.tar.xz, which a device call carries and scripts/gpu/check.sh runs.
set -euo pipefail
cd "$(dirname "$0")/../.."

cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DLW_CUDA_ARCHITECTURES=90 >/dev/null
targets=$(cd tests/cuda && ls test_*.cpp | sed 's/\.cpp$//')
cmake --build build-gpu -j"$(nproc)" --target $targets

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" .device
for t in $targets; do cp "build-gpu/tests/$t" "$stage/bin/"; done
# Every library the binaries load, but the C/C++ runtime and the GPU driver, which
# the GPU machine has in newer versions.
ldd "$stage"/bin/* | awk '/=> \//{print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^/]*|libcuda|libnvidia[^/]*)\.so' |
  xargs -r cp -L -t "$stage/lib/"
tar -C "$stage" -cJf .device/bundle.tar.xz bin lib
echo "bundle: $(du -h .device/bundle.tar.xz | cut -f1), binaries: $targets"
