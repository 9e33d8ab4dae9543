#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the fuzzers need.
# Does nothing (and needs no network) when they are all present already.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3 python3-pip
  qt6-base-dev libqt6opengl6-dev libqcustomplot-dev libqcustomplot2.1-qt6
  nlohmann-json3-dev libcpp-httplib-dev libpcre2-dev libarchive-dev libopenblas-dev
  clang libclang-rt-14-dev clang-format xvfb xauth curl dpkg-dev ccache
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
