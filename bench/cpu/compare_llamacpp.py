#!/usr/bin/env python3
"""Decode speed of our CPU backend against llama.cpp, side by side in one run.

Same GGUF, same prompt tokens (ours renders the chat template; llama.cpp is fed the
very ids), same thread count, same number of generated tokens, greedy, EOS ignored.
Rounds alternate which one goes first, so both see the same machine load; the best
and the median round of each are reported. Each run is its own process, so neither
side's idle threads linger into the other's run.

llama.cpp comes from the PyPI package llama-cpp-python (tooling, not a dependency of
the project): it compiles llama.cpp for this CPU when installed:

    python3 -m venv /tmp/llamacpp-venv
    CMAKE_ARGS="-DGGML_NATIVE=ON" /tmp/llamacpp-venv/bin/pip install llama-cpp-python

Then, from the repository root, with cpu-decode-bench built (target cpu-decode-bench):

    /tmp/llamacpp-venv/bin/python bench/cpu/compare_llamacpp.py \\
        --bench build/bench/cpu/cpu-decode-bench --threads 2 --tokens 128 --rounds 5 \\
        --json bench/results/DATE-cpu-smollm2-vs-llamacpp.json --markdown bench/results/DATE-...md
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PROMPT = "Write a short story about a robot who learns to paint."


def default_model():
    out = subprocess.run(["bash", str(REPO / "scripts/fetch-default-model.sh")], check=True, capture_output=True,
                         text=True)
    return out.stdout.strip()


def cpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in set(flags) if f in {"avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
                                                   "avx_vnni", "avx512_bf16"})


def run_ours(bench, model, prompt, threads, tokens):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([bench, "--model", model, "--prompt", prompt, "--threads", str(threads), "--tokens",
                          str(tokens), "--runs", "1"], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


class LlamaCpp:
    def __init__(self, model, threads):
        from llama_cpp import Llama  # imported here: only this side needs the package
        self.llm = Llama(model_path=model, n_threads=threads, n_threads_batch=threads, n_ctx=1024, n_batch=512,
                         verbose=False)

    def run(self, prompt_ids, tokens):
        """Greedy, EOS ignored: the token arrival times as ours measures them, and
        llama.cpp's own decode timing (its evals alone, without the Python loop)."""
        import llama_cpp
        self.llm.reset()
        llama_cpp.llama_perf_context_reset(self.llm.ctx)
        arrivals, ids = [], []
        start = time.perf_counter()
        for token in self.llm.generate(prompt_ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
            arrivals.append(time.perf_counter())
            ids.append(int(token))
            if len(ids) == tokens:
                break
        decode_s = arrivals[-1] - arrivals[0]
        prefill_s = arrivals[0] - start
        perf = llama_cpp.llama_perf_context(self.llm.ctx)
        return {"prompt_tokens": len(prompt_ids), "prefill_s": prefill_s,
                "prefill_tokens_per_s": len(prompt_ids) / prefill_s, "decode_tokens": tokens - 1,
                "decode_s": decode_s, "decode_tokens_per_s": (tokens - 1) / decode_s,
                "internal_decode_tokens_per_s": perf.n_eval / (perf.t_eval_ms / 1000.0), "token_ids": ids}


def run_llama(model, prompt_ids, threads, tokens, omp_wait_policy):
    """One llama.cpp run in its own process: with OMP_WAIT_POLICY=active its idle threads
    spin until the process ends, which would steal the cores from ours in the next run."""
    env = dict(os.environ, OMP_WAIT_POLICY=omp_wait_policy)
    out = subprocess.run([sys.executable, __file__, "--llama-once", json.dumps(
        {"model": model, "prompt_ids": prompt_ids, "threads": threads, "tokens": tokens})], check=True,
        capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(runs, key="decode_tokens_per_s"):
    rates = [r[key] for r in runs]
    return {"best": max(rates), "median": statistics.median(rates), "all": rates}


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def markdown(result):
    o, l = result["ours"]["decode_tokens_per_s"], result["llama_cpp"]["decode_tokens_per_s"]
    li = result["llama_cpp"]["internal_decode_tokens_per_s"]
    lines = [
        f"# CPU decode: LoRA Workbench vs llama.cpp on {Path(result['model']).name}",
        "",
        f"{result['date']}, {result['machine']['cpu']} ({result['machine']['logical_cpus']} logical CPUs; "
        f"{', '.join(result['machine']['flags'])}), {result['threads']} threads each, "
        f"{result['tokens']} tokens generated greedily after a {result['prompt_tokens']}-token chat prompt, "
        f"EOS ignored, {result['rounds']} interleaved rounds, load average "
        f"{result['machine']['load_average'][0]:.1f} at the end. llama.cpp: llama-cpp-python "
        f"{result['llama_cpp']['version']}, OMP_WAIT_POLICY={result['llama_cpp']['omp_wait_policy']}.",
        "",
        "| decode tokens/s | ours | llama.cpp | ours / llama.cpp |",
        "| --- | --- | --- | --- |",
        f"| best round | {o['best']:.1f} | {l['best']:.1f} | {o['best'] / l['best']:.2f} |",
        f"| median round | {o['median']:.1f} | {l['median']:.1f} | {o['median'] / l['median']:.2f} |",
        f"| best round, llama.cpp's own eval timing | {o['best']:.1f} | {li['best']:.1f} | {o['best'] / li['best']:.2f} |",
        "",
        "Ours is timed as a client sees it (token events out of lw::Engine: scheduling, sampling and "
        "detokenizing included); llama.cpp both ways: tokens out of llama-cpp-python's generate() "
        "(its Python loop and sampler included) and llama.cpp's own eval time (llama_perf_context).",
        "",
        f"Every round (tokens/s): ours {', '.join(f'{r:.1f}' for r in o['all'])}; "
        f"llama.cpp {', '.join(f'{r:.1f}' for r in l['all'])}.",
        f"Greedy tokens agree for the first {result['agreeing_tokens']} of {result['tokens']}.",
        "",
        f"Command: `{result['command']}`",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default=str(REPO / "build/bench/cpu/cpu-decode-bench"))
    parser.add_argument("--model", help="GGUF file (default: scripts/fetch-default-model.sh)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--omp-wait-policy", default="active",
                        help="llama.cpp's OpenMP threads: 'active' spin at barriers (fastest on an idle machine), 'passive' "
                             "sleep (faster where more threads are runnable than there are cores)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--markdown", type=Path, help="write a summary table here")
    parser.add_argument("--llama-once", help=argparse.SUPPRESS)  # run_llama's child process
    args = parser.parse_args()
    if args.llama_once:
        job = json.loads(args.llama_once)
        print(json.dumps(LlamaCpp(job["model"], job["threads"]).run(job["prompt_ids"], job["tokens"])))
        return
    model = args.model or default_model()

    try:
        import llama_cpp
    except ImportError:
        sys.exit("llama_cpp is missing: run this with the python of a venv that has llama-cpp-python (see --help)")

    # Round 0 starts with ours, whose output gives the prompt ids llama.cpp is fed.
    ours_runs, llama_runs = [], []
    for round_ in range(args.rounds):
        for who in (["ours", "llama"] if round_ % 2 == 0 else ["llama", "ours"]):
            if who == "ours":
                ours_runs.append(run_ours(args.bench, model, args.prompt, args.threads, args.tokens))
                last = ours_runs[-1]
            else:
                llama_runs.append(run_llama(model, ours_runs[0]["prompt_token_ids"], args.threads, args.tokens,
                                            args.omp_wait_policy))
                last = llama_runs[-1]
            internal = f" ({last['internal_decode_tokens_per_s']:.1f} by its own timing)" if who == "llama" else ""
            print(f"round {round_} {who:5}: {last['decode_tokens_per_s']:7.1f} decode tokens/s{internal}, "
                  f"{last['prefill_tokens_per_s']:7.1f} prefill tokens/s", flush=True)

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "flags": cpu_flags(),
                    "load_average": os.getloadavg()},
        "model": model,
        "prompt": args.prompt,
        "prompt_tokens": len(ours_runs[0]["prompt_token_ids"]),
        "threads": args.threads,
        "tokens": args.tokens,
        "rounds": args.rounds,
        "command": " ".join([Path(sys.executable).name, "bench/cpu/compare_llamacpp.py"] + sys.argv[1:]),
        "ours": {"decode_tokens_per_s": summary(ours_runs),
                 "prefill_tokens_per_s": max(r["prefill_tokens_per_s"] for r in ours_runs)},
        "llama_cpp": {"version": llama_cpp.__version__, "omp_wait_policy": args.omp_wait_policy,
                      "decode_tokens_per_s": summary(llama_runs),
                      "internal_decode_tokens_per_s": summary(llama_runs, "internal_decode_tokens_per_s"),
                      "prefill_tokens_per_s": max(r["prefill_tokens_per_s"] for r in llama_runs)},
        "agreeing_tokens": common_prefix(ours_runs[-1]["token_ids"], llama_runs[-1]["token_ids"]),
    }
    result["ratio_best"] = result["ours"]["decode_tokens_per_s"]["best"] / result["llama_cpp"]["decode_tokens_per_s"]["best"]
    result["ratio_median"] = (result["ours"]["decode_tokens_per_s"]["median"] /
                              result["llama_cpp"]["decode_tokens_per_s"]["median"])
    result["ratio_best_vs_internal"] = (result["ours"]["decode_tokens_per_s"]["best"] /
                                        result["llama_cpp"]["internal_decode_tokens_per_s"]["best"])
    print(json.dumps({k: result[k] for k in ("ours", "llama_cpp", "ratio_best", "ratio_median")}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown(result))


if __name__ == "__main__":
    main()
