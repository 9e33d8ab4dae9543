#!/usr/bin/env python3
"""Reads the JSON files scripts/gpu/bench.sh leaves in a folder (lora-bench's --json
output and peft_baseline.py's), prints one short table against issue 4's targets with
our/peer ratios, and writes everything, raw runs included, to one summary JSON.

Usage: summarize.py RUN_DIR SUMMARY_JSON
"""
import json
import sys
from pathlib import Path


def load(folder, name):
    p = folder / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def runs_by_batch(report):
    return {r["batch"]: r for r in report["results"]["runs"]} if report else {}


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def main():
    folder, summary_path = Path(sys.argv[1]), Path(sys.argv[2])
    raw = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    rows = []  # (what, value, target, met)

    base = runs_by_batch(load(folder, "base"))
    for b, r in sorted(base.items()):
        ratio = r.get("step_over_floor")
        rows.append((f"base B={b}: decode tok/s; step p50 / floor",
                     f"{fmt(r['decode_tokens_per_second'])}; {fmt(r['step_seconds']['p50'] * 1e3, 2)} ms = "
                     f"{fmt(ratio, 2)}x floor", "<= 1.3x", ratio is not None and ratio <= 1.3))
    for name, batch, target in (("mixed32", 32, 0.90), ("mixed64", 64, 0.85)):
        r = runs_by_batch(load(folder, name)).get(batch)
        if r is None:
            continue
        b = base.get(batch)
        share = r["decode_tokens_per_second"] / b["decode_tokens_per_second"] if b else None
        rows.append((f"{name} B={batch} ({r['distinct_adapters']} adapters, ranks {r['distinct_ranks']}): decode tok/s",
                     f"{fmt(r['decode_tokens_per_second'])} = {fmt(share * 100 if share else None)}% of base",
                     f">= {target:.0%} of base", share is not None and share >= target))

    for peer_name, ours_name, batch in (("peft-base32", "base", 32), ("peft-mixed32", "mixed32", 32)):
        peer = load(folder, peer_name)
        ours = runs_by_batch(load(folder, ours_name)).get(batch)
        if peer is None:
            continue
        line = f"{fmt(peer['end_to_end_tokens_per_second'])} e2e, {fmt(peer['decode_tokens_per_second'])} decode tok/s"
        met = None
        if ours:
            e2e = ours["end_to_end_tokens_per_second"] / peer["end_to_end_tokens_per_second"]
            dec = ours["decode_tokens_per_second"] / peer["decode_tokens_per_second"]
            line += f"; ours/peer {fmt(e2e)}x e2e, {fmt(dec)}x decode"
            met = e2e >= 100 if peer_name == "peft-mixed32" else None
        rows.append((f"transformers+PEFT {peer_name.removeprefix('peft-')} B={batch}", line,
                     ">= 100x (mixed)" if peer_name == "peft-mixed32" else "", met))

    for name in sorted(k for k in raw if k.startswith("s1-") or k.startswith("s2-")):
        t = raw[name]["results"]
        cache = t["adapter_cache"]
        rows.append((f"trace {name} ({t['rate']} req/s, {cache['registered']} adapters)",
                     f"{fmt(t['requests_per_second'], 2)} req/s, SLO {fmt(t['slo_attainment'] * 100)}%, TTFT p50 "
                     f"{fmt(t['ttft_seconds']['p50'], 2)} s p99 {fmt(t['ttft_seconds']['p99'], 2)} s, pool loads "
                     f"{cache['pool']['loads']}, host loads {cache['host']['loads']}",
                     "> S-LoRA (S1 7.6-8.0, S2 6.7-7.5 req/s)", None))

    resident, working = load(folder, "ws-resident"), load(folder, "ws-4x")
    if resident and working:
        r, w = resident["results"], working["results"]
        pool = w["adapter_cache"]["pool"]
        per_load = pool["load_seconds"] / pool["loads"] * 1e3 if pool["loads"] else None
        # The copies themselves, beside compute (runs from before the upload timing have none).
        uploads = w["adapter_cache"].get("uploads")
        copy = (f", copies {fmt(uploads['seconds'] / pool['loads'] * 1e3, 2)} ms each beside compute"
                if uploads and pool["loads"] else "")
        ratio = w["ttft_seconds"]["p50"] / r["ttft_seconds"]["p50"] if r["ttft_seconds"]["p50"] else None
        rows.append(("TTFT, working set 4x the pool vs all resident",
                     f"p50 {fmt(w['ttft_seconds']['p50'] * 1e3)} vs {fmt(r['ttft_seconds']['p50'] * 1e3)} ms "
                     f"= {fmt(ratio, 2)}x, p99 {fmt(w['ttft_seconds']['p99'] * 1e3)} vs "
                     f"{fmt(r['ttft_seconds']['p99'] * 1e3)} ms; {pool['loads']} pool loads, "
                     f"{fmt(per_load, 2)} ms each of the step thread{copy}; ITL p99 {fmt(w['itl_seconds']['p99'] * 1e3)} vs "
                     f"{fmt(r['itl_seconds']['p99'] * 1e3)} ms",
                     "<= 2x", ratio is not None and ratio <= 2.0))

    device = next((r.get("device") for r in raw.values() if "device" in r), "?")
    print(f"\nlora-bench summary on {device}")
    width = max((len(r[0]) for r in rows), default=10)
    for what, value, target, met in rows:
        mark = "" if met is None else (" [met]" if met else " [NOT met]")
        print(f"  {what:<{width}}  {value}  {('target ' + target) if target else ''}{mark}")
    summary_path.write_text(json.dumps({"device": device, "rows": [
        {"what": w, "value": v, "target": t, "met": m} for w, v, t, m in rows], "runs": raw}, indent=2))


if __name__ == "__main__":
    main()
