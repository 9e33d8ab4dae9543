#!/usr/bin/env python3
"""Summarizes an Nsight Compute CSV (ncu --csv --page raw --metrics gpu__time_duration.sum)
of a lora-bench run: splits the kernels into engine steps (a step ends with its sampling
kernel) and prints, for the last step, the time of each kind of kernel and their sum.

usage: kernel_profile.py PROFILE.csv [LABEL]
"""
import csv
import re
import sys
from collections import OrderedDict

UNITS = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3, "second": 1e6}


def kernel_kind(name):
    """A short, stable name: our kernels by their function, cuBLAS's by their family."""
    base = re.sub(r"\(.*", "", name)  # arguments
    base = re.sub(r"<.*", "", base)  # template arguments
    base = base.split("::")[-1].strip()
    if base.startswith("void "):
        base = base[5:]
    return base or name


def read(path):
    with open(path, newline="") as f:
        lines = [line for line in f if line.startswith('"')]
    rows = list(csv.reader(lines))
    header, units = rows[0], rows[1]
    name_col = header.index("Kernel Name")
    time_col = header.index("gpu__time_duration.sum")
    scale = UNITS.get(units[time_col], 1.0)
    kernels = []
    for row in rows[2:]:
        try:
            kernels.append((row[name_col], float(row[time_col].replace(",", "")) * scale))
        except (ValueError, IndexError):
            continue
    return kernels


def steps_of(kernels):
    steps, current = [], []
    for name, us in kernels:
        current.append((name, us))
        if "sample_kernel" in name:
            steps.append(current)
            current = []
    return steps


def main():
    path = sys.argv[1]
    label = sys.argv[2] if len(sys.argv) > 2 else path
    steps = steps_of(read(path))
    if not steps:
        print(f"{label}: no complete step in {path}")
        return
    last = steps[-1]
    kinds = OrderedDict()
    for name, us in last:
        k = kinds.setdefault(kernel_kind(name), [0, 0.0])
        k[0] += 1
        k[1] += us
    total = sum(us for _, us in last)
    print(f"== {label}: last of {len(steps)} steps, {len(last)} kernels, {total:.1f} us of kernel time")
    for kind, (count, us) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"  {us:9.1f} us {100 * us / total:5.1f}%  x{count:<4d} {kind[:90]}")


if __name__ == "__main__":
    main()
