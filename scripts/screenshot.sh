#!/usr/bin/env bash
# Takes docs/screenshot.png: the workbench under Xvfb on the default model, three chat
# panes mid-conversation and the live views populated (lora-workbench --screenshot
# drives it there, saves the picture and quits). Settings come from a scratch folder, so
# the picture does not depend on (or change) the user's. BUILD_DIR picks the build.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/fetch-default-model.sh >/dev/null
build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target lora-workbench

out="${1:-docs/screenshot.png}"
config=$(mktemp -d)
trap 'rm -rf "$config"' EXIT
XDG_CONFIG_HOME="$config" QT_QPA_PLATFORM=xcb \
  xvfb-run --auto-servernum --server-args="-screen 0 1920x1080x24" \
  "$build/app/workbench/lora-workbench" --screenshot "$out"
