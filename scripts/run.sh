#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what the build needs, fetches the
# default model once (SmolLM2-135M-Instruct), builds, and runs on it. Until the
# workbench exists this is lora-inspect: the model's description, its tokenizer and
# chat template at work, and any adapters given (extra arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
gguf=$(scripts/fetch-default-model.sh)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lora-inspect
exec build/app/inspect/lora-inspect "$gguf" --chat "What is a LoRA adapter?" "$@"
