#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what the build needs, fetches the
# default model once (SmolLM2-135M-Instruct), builds, and starts the workbench on it (with
# every demo adapter in resources/adapters, a chat pane for each). Extra arguments go to
# lora-workbench (e.g. --adapter NAME=PATH, --backend cuda).
# Without a display (no DISPLAY or WAYLAND_DISPLAY) it says how to see the workbench and
# serves the same engine and demo adapters headless with lora-serve on 127.0.0.1:${PORT:-8000}.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
gguf=$(scripts/fetch-default-model.sh)
build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target lora-workbench lora-serve

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec "$build/app/workbench/lora-workbench" "$@"
fi

port="${PORT:-8000}"
cat <<TXT
No display here, and the workbench is a desktop window. To see it:
  - run this on a desktop, or over 'ssh -X' (X forwarding);
  - or take a picture of it under Xvfb: scripts/screenshot.sh (writes docs/screenshot.png).
Meanwhile the same engine serves the model headless on http://127.0.0.1:$port (Ctrl-C stops). Try:
  curl -s localhost:$port/v1/models
  curl -s localhost:$port/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model": "pirate", "messages": [{"role": "user", "content": "Hello!"}]}'
TXT
exec "$build/app/serve/lora-serve" --model "$gguf" --adapters-dir resources/adapters --port "$port"
