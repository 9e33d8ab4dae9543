# Sourced by check.sh and bench.sh on the GPU machine: unpacks .device/bundle.tar.xz
# (see bundle.sh) into $work (bin/, lib/) and points the loader at its libraries and
# at the machine's own cuBLAS.
work=$(mktemp -d)
tar -C "$work" -xJf .device/bundle.tar.xz
cuda_lib=$(dirname "$(find / -name 'libcublas.so.13' -print -quit 2>/dev/null)")
export LD_LIBRARY_PATH="$work/lib:$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
