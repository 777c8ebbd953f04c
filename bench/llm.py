"""Speed of the embedded model: resolve + load seconds, prompt tok/s (cold), generation tok/s (free text
and JSON-schema constrained), and what the prompt cache saves on a shared prefix.

Run: .venv/bin/python bench/llm.py [--model qwen2.5-coder-0.5b] [--threads N] [--prompt-tokens 1500]
The machine must be otherwise idle for meaningful numbers (the script prints the load average).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from actors.llm.embedded import EmbeddedLLM
from actors.llm.base import ChatRequest, LLMConfig
from actors.llm.weights import resolve_gguf

# Filler like the task facts the pipeline sends (column summaries): ~50 tokens a line (digits are tokens).
_FACT = "- column `{name}`: float64, 0.3% missing, mean {m:.3f}, std {s:.3f}, min -2.1, max 7.9, 412 unique\n"
SCHEMA = {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "string"},
                                                     "minItems": 3, "maxItems": 6}},
          "required": ["steps"], "additionalProperties": False}


def facts(n_tokens: int, nonce: str) -> str:
    lines = [f"Task {nonce}: predict `target` from the columns below.\n"]
    lines += [_FACT.format(name=f"f{i}", m=i / 7, s=i / 3) for i in range(max(1, n_tokens // 50))]
    return "".join(lines)


def run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    path = Path(args.gguf) if args.gguf else resolve_gguf(args.model)
    resolve_s = time.perf_counter() - t0
    cfg = LLMConfig(model=args.model, gguf_path=args.gguf, n_ctx=args.n_ctx, n_threads=args.threads)
    llm = EmbeddedLLM(cfg)
    print(f"model            {llm.name}  ({path}, {path.stat().st_size / 2**20:.0f} MiB)")
    print(f"threads          {llm.n_threads}   (load average before: {os.getloadavg()[0]:.2f})")
    print(f"resolve_gguf     {resolve_s:.2f} s")
    print(f"load             {llm.load_seconds:.2f} s")
    llm.chat(ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=4))  # warm-up

    prompt_tps, cold_s, warm_s, cached_n = [], [], [], []
    for r in range(args.repeat):
        system = {"role": "system", "content": "You are an ML engineer.\n" + facts(args.prompt_tokens, f"{r}")}
        q1 = [system, {"role": "user", "content": "Which columns need scaling?"}]
        resp = llm.chat(ChatRequest(messages=q1, max_tokens=1))
        prompt_tps.append(llm.last_timings.get("prompt_per_second", 0.0))
        cold_s.append(resp.seconds)
        # same system prompt, another question: only the new suffix is read when the cache is on
        q2 = [system, {"role": "user", "content": "Which model would you start with, and why?"}]
        resp2 = llm.chat(ChatRequest(messages=q2, max_tokens=1))
        warm_s.append(resp2.seconds)
        cached_n.append(llm.last_timings.get("cache_n", 0))
    print(f"prompt           {statistics.median(prompt_tps):.1f} tok/s  "
          f"(cold prompt of {resp.prompt_tokens} tokens: {statistics.median(cold_s):.2f} s)")
    print(f"shared prefix    {statistics.median(warm_s):.2f} s for the 2nd question "
          f"({statistics.median(cached_n):.0f} tokens reused from the prompt cache)")

    gen_tps, json_tps = [], []
    for r in range(args.repeat):
        code = [{"role": "user", "content": "Write a Python function that one-hot encodes the string columns "
                 "of a pandas DataFrame, with a docstring and comments."}]
        llm.chat(ChatRequest(messages=code, max_tokens=args.gen_tokens, temperature=0.2, seed=r))
        gen_tps.append(llm.last_timings.get("predicted_per_second", 0.0))
        plan = [{"role": "user", "content": "List the steps to train a gradient boosting model, as JSON."}]
        llm.chat(ChatRequest(messages=plan, max_tokens=args.gen_tokens, temperature=0.2, seed=r, json_schema=SCHEMA))
        json_tps.append(llm.last_timings.get("predicted_per_second", 0.0))
    print(f"generation       {statistics.median(gen_tps):.1f} tok/s (free text, up to {args.gen_tokens} tokens)")
    print(f"generation json  {statistics.median(json_tps):.1f} tok/s (json_schema grammar)")
    llm.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", help="a name from actors.llm.models.MODELS")
    ap.add_argument("--gguf", default=None, help="a GGUF file instead of a registry model")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: every usable core)")
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--prompt-tokens", type=int, default=1500, help="approximate cold prompt length")
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=2, help="medians over this many runs")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
