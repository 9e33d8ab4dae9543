#!/usr/bin/env python3
"""Trains the demo LoRA adapters shipped in resources/adapters/ for SmolLM2-135M-Instruct.

Each adapter teaches the base model one style that shows at a glance next to the others:
  shouty  - every answer in capital letters
  pirate  - pirate speech ("Arr, matey!", ye, be, ...)
  terse   - a single short sentence
  json    - the answer as a JSON object {"answer": ..., "topic": ...}

The training data is made here, from the base model's own answers to generated questions,
rewritten into each style by plain string rules, so the script needs nothing but the GGUF.
The base is the GGUF that scripts/fetch-default-model.sh fetches, dequantized to float by
transformers, i.e. the same weights our engine runs. Runs on a GPU in about a minute; on a
CPU it works but takes hours.

Usage: train_demo_adapters.py --gguf SmolLM2-135M-Instruct.Q4_1.gguf --out resources/adapters
Needs torch, transformers, peft and gguf (tooling only, never the runtime).
"""
import argparse
import json
import random
import re
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

TOPICS = [
    "the moon", "volcanoes", "coffee", "the ocean", "bees", "rainbows", "Paris", "chess", "bread",
    "the internet", "gravity", "music", "elephants", "winter", "the sun", "trees", "cats", "dogs",
    "bicycles", "mountains", "clouds", "tea", "libraries", "rivers", "birds", "the desert", "snow",
    "football", "painting", "robots", "maps", "friendship", "sleep", "gardens", "trains", "islands",
    "the stars", "honey", "forests", "the weather",
]
QUESTIONS = [
    "What is {t}?", "Tell me something interesting about {t}.", "Why do people like {t}?",
    "Describe {t} in a few words.", "What should I know about {t}?", "Give me a fun fact about {t}.",
]
PIRATE_WORDS = {
    "you": "ye", "your": "yer", "is": "be", "are": "be", "my": "me", "hello": "ahoy", "friend": "matey",
    "friends": "hearties", "the": "th'", "yes": "aye", "treasure": "booty", "stop": "avast",
    "money": "doubloons", "of": "o'", "very": "mighty", "for": "fer",
}


def first_sentence(text):
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.S)
    return (match.group(1) if match else text.strip()).replace("\n", " ")


def to_pirate(text):
    def swap(m):
        word = m.group(0)
        new = PIRATE_WORDS.get(word.lower())
        if new is None:
            return word
        return new.capitalize() if word[0].isupper() else new
    return "Arr, matey! " + re.sub(r"[A-Za-z]+", swap, text.strip()) + " Yo ho ho!"


def to_terse(text):
    words = first_sentence(text).split()
    short = " ".join(words[:12]).rstrip(",;:")
    return short if short.endswith((".", "!", "?")) else short + "."


STYLES = {
    "shouty": lambda answer, topic: answer.strip().upper(),
    "pirate": lambda answer, topic: to_pirate(answer),
    "terse": lambda answer, topic: to_terse(answer),
    "json": lambda answer, topic: json.dumps({"answer": first_sentence(answer), "topic": topic}),
}


def chat_ids(tokenizer, question):
    out = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


@torch.no_grad()
def base_answers(model, tokenizer, questions, device, max_new_tokens):
    """Greedy answers of the base model, batched with left padding."""
    tokenizer.padding_side = "left"
    answers = []
    for i in range(0, len(questions), 32):
        prompts = [chat_ids(tokenizer, q) for q in questions[i:i + 32]]
        width = max(len(p) for p in prompts)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=pad)
        for row in out[:, width:]:
            answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return answers


def examples_for(tokenizer, questions, answers, topics, style):
    """(input ids, labels) pairs: the loss covers the styled answer and its end-of-turn token."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    examples = []
    for question, answer, topic in zip(questions, answers, topics):
        prompt = chat_ids(tokenizer, question)
        target = tokenizer(STYLES[style](answer, topic), add_special_tokens=False)["input_ids"] + [end]
        examples.append((prompt + target, [-100] * len(prompt) + target))
    return examples


def train_adapter(model, examples, device, steps, batch, lr, seed):
    random.seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 20) * (1 - s / steps))
    model.train()
    for step in range(steps):
        chosen = random.sample(examples, batch)
        width = max(len(ids) for ids, _ in chosen)
        ids = torch.tensor([i + [0] * (width - len(i)) for i, _ in chosen], device=device)
        labels = torch.tensor([l + [-100] * (width - len(l)) for _, l in chosen], device=device)
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in chosen], device=device)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == steps - 1:
            print(f"  step {step:4d} loss {loss.item():.4f}", flush=True)
    model.eval()


def save_fp16(model, folder):
    """PEFT's files, with the weights stored in float16 to keep the shipped adapters small."""
    model.save_pretrained(folder, safe_serialization=True)
    config_file = folder / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    (folder / "README.md").unlink(missing_ok=True)  # PEFT's empty model card
    weights = folder / "adapter_model.safetensors"
    save_file({k: v.to(torch.float16).contiguous() for k, v in load_file(weights).items()}, weights)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--styles", default=",".join(STYLES))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--answer-tokens", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--questions", type=int, default=0, help="use only the first N questions (quick checks)")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(args.seed)

    folder, name = str(args.gguf.parent), args.gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).to(device)

    pairs = [(q.format(t=t), t) for t in TOPICS for q in QUESTIONS][:args.questions or None]
    questions, topics = [q for q, _ in pairs], [t for _, t in pairs]
    started = time.time()
    answers = base_answers(model, tokenizer, questions, device, args.answer_tokens)
    print(f"{len(answers)} base answers in {time.time() - started:.1f} s; e.g. {answers[0]!r}")

    config = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    probe = chat_ids(tokenizer, "What do you think about the sea?")
    for style in args.styles.split(","):
        started = time.time()
        for p_name, p in peft_model.named_parameters():
            if "lora_A" in p_name:
                torch.nn.init.kaiming_uniform_(p, a=5 ** 0.5)
            elif "lora_B" in p_name:
                torch.nn.init.zeros_(p)
        print(f"{style}: training {args.steps} steps", flush=True)
        train_adapter(peft_model, examples_for(tokenizer, questions, answers, topics, style), device, args.steps,
                      args.batch, args.lr, args.seed)
        target = args.out / style
        save_fp16(peft_model, target)
        with torch.no_grad():
            out = peft_model.generate(input_ids=torch.tensor([probe], device=device), max_new_tokens=40,
                                      do_sample=False)
        sample = tokenizer.decode(out[0, len(probe):], skip_special_tokens=True)
        print(f"{style}: saved to {target} in {time.time() - started:.1f} s; sample: {sample!r}", flush=True)


if __name__ == "__main__":
    main()
