#!/usr/bin/env bash
# Builds everything and passes the tests: the Qt Test suites through CTest, then a
# .deb built, installed and run (scripts/package.sh), then a short libFuzzer run of
# every parser. Installs its own Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

# The real default model, for the conformance tests that read it (they skip without it).
if gguf=$(scripts/fetch-default-model.sh); then
  export LW_SMOLLM2_GGUF="$gguf"
else
  echo "warning: could not fetch the default model; tests that read it will skip" >&2
fi

# ccache lets scripts/package.sh's CPU-only build reuse this build's objects.
export CCACHE_BASEDIR="$PWD"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

scripts/package.sh

scripts/fuzz.sh "${LW_FUZZ_SECONDS:-20}"
