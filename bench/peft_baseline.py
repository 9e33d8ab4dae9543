#!/usr/bin/env python3
"""The peer baseline for lora-bench's throughput mode: Hugging Face transformers + PEFT
on the same GPU and the same workload shape.

A LlamaConfig of the shape lora-bench builds (llama-7b by default), randomly
initialised (std 0.02, as HF does) in fp16 on the GPU; K random LoRA adapters (ranks
cycled from --ranks, targets from --targets, lora_alpha = 2r, B not zero) added to one
PeftModel; a batch of B prompts of P random tokens, request i on adapter i % K, generated
with transformers' generate(adapter_names=...) for exactly G tokens, greedy. With K = 0
the plain model (no PEFT wrapper) runs: the base-only number.

Tokens/s are reported two ways, as lora-bench does: end to end (B*G tokens over the
whole generate call) and decode (B*(G-1) tokens over the time a G-token generate takes
beyond a 1-token one, i.e. without the prefill). Prints one JSON object per run.

Usage: peft_baseline.py [--shape llama-7b] [--batch 32] [--prompt 128] [--gen 64]
                        [--distinct 32] [--ranks 16 | 8,16,32,64 | 8-64]
                        [--targets q,k,v,o] [--repeat 1] [--json FILE]
"""
import argparse
import json
import sys
import time

import torch

SHAPES = {  # as engine/model/synthetic_model.cpp builds them
    "llama-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096),
    "llama-13b": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40,
                      num_key_value_heads=40, vocab_size=32000, max_position_embeddings=4096),
    "mistral-7b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, vocab_size=32000, max_position_embeddings=32768),
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192,
                         rope_theta=100000.0, tie_word_embeddings=True),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=256, max_position_embeddings=2048),
}


def parse_ranks(text):
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        ranks = [r for r in (2 ** k for k in range(13)) if lo <= r <= hi]
    else:
        ranks = [int(x) for x in text.split(",")]
    if not ranks or min(ranks) < 1:
        raise SystemExit(f"peft_baseline: --ranks '{text}' holds no usable rank")
    return ranks


def parse_targets(text):
    return [t if t.endswith("_proj") else t + "_proj" for t in text.split(",")]


def build_model(shape, seed):
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(**SHAPES[shape], rms_norm_eps=1e-5, initializer_range=0.02, bos_token_id=1,
                         eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float16)
    with torch.device("cuda"):  # initialised on the GPU: minutes less than on the CPU for 7B
        model = LlamaForCausalLM(config)
    torch.set_default_dtype(torch.float32)
    return model.eval()


def add_adapters(model, k, ranks, targets, seed):
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(seed + 1)
    names = [f"bench-{i}" for i in range(k)]
    peft_model = None
    for i, name in enumerate(names):
        r = ranks[i % len(ranks)]
        # init_lora_weights=False: random A and B, so every adapter changes the output.
        config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=targets, lora_dropout=0.0,
                            init_lora_weights=False, task_type="CAUSAL_LM")
        if peft_model is None:
            peft_model = get_peft_model(model, config, adapter_name=name)
        else:
            peft_model.add_adapter(name, config)
    return peft_model.to(torch.float16).eval(), names


def timed_generate(model, input_ids, tokens, adapter_names):
    kwargs = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=0)
    if adapter_names is not None:
        kwargs["adapter_names"] = adapter_names
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    generated = out.shape[1] - input_ids.shape[1]
    if generated != tokens:
        raise SystemExit(f"peft_baseline: generate produced {generated} tokens, expected {tokens}")
    return seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="llama-7b", choices=sorted(SHAPES))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--gen", type=int, default=64)
    p.add_argument("--distinct", type=int, default=32, help="distinct adapters in the batch; 0 = base model alone")
    p.add_argument("--ranks", default="16")
    p.add_argument("--targets", default="q,k,v,o")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1, help="timed generate calls (the best is kept)")
    p.add_argument("--json", help="also write the result here")
    a = p.parse_args()
    if a.batch < 1 or a.prompt < 1 or a.gen < 2 or a.distinct < 0 or a.distinct > a.batch or a.repeat < 1:
        raise SystemExit("peft_baseline: need batch >= 1, prompt >= 1, gen >= 2, 0 <= distinct <= batch, repeat >= 1")
    if not torch.cuda.is_available():
        raise SystemExit("peft_baseline: no CUDA device")

    ranks, targets = parse_ranks(a.ranks), parse_targets(a.targets)
    start = time.perf_counter()
    model = build_model(a.shape, a.seed)
    adapter_names = None
    if a.distinct > 0:
        model, names = add_adapters(model, a.distinct, ranks, targets, a.seed)
        adapter_names = [names[i % a.distinct] for i in range(a.batch)]
    setup_seconds = time.perf_counter() - start

    g = torch.Generator().manual_seed(a.seed)
    vocab = SHAPES[a.shape]["vocab_size"]
    input_ids = torch.randint(3, vocab, (a.batch, a.prompt), generator=g).cuda()
    timed_generate(model, input_ids, 2, adapter_names)  # warm-up
    first = min(timed_generate(model, input_ids, 1, adapter_names) for _ in range(a.repeat))
    full = min(timed_generate(model, input_ids, a.gen, adapter_names) for _ in range(a.repeat))

    import peft
    import transformers
    result = {
        "peer": "transformers+peft", "shape": a.shape, "dtype": "float16", "batch": a.batch, "prompt": a.prompt,
        "gen": a.gen, "distinct_adapters": a.distinct, "ranks": ranks if a.distinct else [],
        "targets": targets if a.distinct else [],
        "end_to_end_tokens_per_second": a.batch * a.gen / full,
        "decode_tokens_per_second": a.batch * (a.gen - 1) / max(full - first, 1e-9),
        "generate_seconds": full, "first_token_seconds": first, "setup_seconds": setup_seconds,
        "device": torch.cuda.get_device_name(), "torch": torch.__version__, "transformers": transformers.__version__,
        "peft": peft.__version__, "command": " ".join(sys.argv),
    }
    print(json.dumps(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
