#!/usr/bin/env python3
"""Prints what scripts/gpu/compare.sh measured: for each workload, the p50 decode step of
every run from bundle A and bundle B, and B over A (median of each side's runs).

usage: compare_runs.py FOLDER   (FOLDER holds WORKLOAD-a-ROUND.json and WORKLOAD-b-ROUND.json)
"""
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def step_p50_ms(path):
    """The p50 decode step of a lora-bench throughput JSON with one batch size, in ms."""
    runs = json.loads(path.read_text())["results"]["runs"]
    if len(runs) != 1:
        raise ValueError(f"{path}: {len(runs)} batch sizes, compare.sh runs one")
    return runs[0]["step_seconds"]["p50"] * 1e3


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    steps = defaultdict(lambda: {"a": [], "b": []})
    for path in sorted(Path(sys.argv[1]).glob("*.json")):
        match = re.fullmatch(r"(.+)-([ab])-(\d+)\.json", path.name)
        if match:
            steps[match[1]][match[2]].append(step_p50_ms(path))
    if not steps:
        sys.exit(f"compare_runs.py: no WORKLOAD-a|b-ROUND.json in {sys.argv[1]}")
    print(f"{'workload':<10} {'A: p50 decode step (ms)':<26} {'B: p50 decode step (ms)':<26} B/A")
    for workload, sides in steps.items():
        a, b = sides["a"], sides["b"]
        ratio = f"{statistics.median(b) / statistics.median(a):.3f}" if a and b else "-"
        print(f"{workload:<10} {' '.join(f'{v:.2f}' for v in a):<26} {' '.join(f'{v:.2f}' for v in b):<26} {ratio}")


if __name__ == "__main__":
    main()
