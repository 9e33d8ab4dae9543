# Sourced by check.sh and bench.sh on the GPU machine: unpacks the bundle (see
# bundle.sh; LW_BUNDLE names another than .device/bundle.tar.xz) into $work (bin/,
# lib/) and points the loader at its libraries and at the machine's own cuBLAS.
work=$(mktemp -d)
tar -C "$work" -xJf "${LW_BUNDLE:-.device/bundle.tar.xz}" || { echo "no bundle to unpack: run scripts/gpu/bundle.sh" >&2; exit 1; }
cuda_lib=$(dirname "$(find / -name 'libcublas.so.13' -print -quit 2>/dev/null)")
export LD_LIBRARY_PATH="$work/lib:$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
