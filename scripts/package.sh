#!/usr/bin/env bash
# Builds the .deb (installer/CMakeLists.txt) from a CPU-only Release tree, installs it on
# this machine with apt (which checks its dependencies), and runs the installed programs:
# --version of each, and a short headless chat through lora-serve with a demo adapter on
# the default model when it is present. Uses sudo unless run as root; scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-package
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLW_ENABLE_CUDA=OFF -DLW_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/lora-workbench_*.deb)
dpkg-deb --field "$deb" Package Version Architecture Depends

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --reinstall "./$deb" >/dev/null
for program in lora-workbench lora-serve lora-bench lora-inspect; do
  QT_QPA_PLATFORM=offscreen "/usr/bin/$program" --version
done
test -f /usr/share/applications/lora-workbench.desktop
test -f /usr/share/icons/hicolor/scalable/apps/lora-workbench.svg

gguf=${LW_SMOLLM2_GGUF:-}
if [ -z "$gguf" ] || [ ! -f "$gguf" ]; then
  echo "package: no default model (LW_SMOLLM2_GGUF), so no generation check" >&2
  exit 0
fi
port=$((20000 + RANDOM % 20000))
log=$(mktemp)
/usr/bin/lora-serve --model "$gguf" --lora-modules pirate=/usr/share/lora-workbench/adapters/pirate \
  --port "$port" --threads 2 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 1
done
answer=$(curl -sf "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model": "pirate", "temperature": 0, "max_tokens": 16,
       "messages": [{"role": "user", "content": "What is the capital of France?"}]}')
echo "installed lora-serve, adapter pirate: $answer"
grep -q "Arr" <<<"$answer" || { echo "package: the pirate adapter did not answer as a pirate" >&2; exit 1; }
