#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what the build needs, fetches the
# default model once (SmolLM2-135M-Instruct), builds, and runs on it. Until the
# workbench exists this describes the model (lora-inspect) and then serves it with
# lora-serve on 127.0.0.1:${PORT:-8000} until Ctrl-C; extra arguments go to lora-serve
# (e.g. --lora-modules NAME=PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
gguf=$(scripts/fetch-default-model.sh)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lora-inspect lora-serve
build/app/inspect/lora-inspect "$gguf" --chat "What is a LoRA adapter?"

port="${PORT:-8000}"
cat <<TXT

Serving on http://127.0.0.1:$port (Ctrl-C stops). Try:
  curl -s localhost:$port/v1/models
  curl -s localhost:$port/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model": "<id from /v1/models>", "messages": [{"role": "user", "content": "Hello!"}]}'
TXT
exec build/app/serve/lora-serve --model "$gguf" --port "$port" "$@"
