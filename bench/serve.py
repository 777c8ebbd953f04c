"""Throughput of the Serve app vs the same engine called in-process: completion tokens per second for the
same prompts (greedy, same seed), requests sent one after another, the paths interleaved request by
request so that load from other processes hits both alike. Goal: Serve >= 90% of direct.

On a shared machine wall-clock rates swing with other load, so the CPU cost is reported as well: tokens
per CPU-second of this process (engine + client) plus, for Serve, its replica and HTTP proxy processes.

Run: .venv/bin/python bench/serve.py [--model qwen2.5-coder-0.5b] [--requests 6] [--max-tokens 128]
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from actors.llm.embedded import EmbeddedLLM, usable_cores
from actors.llm.base import ChatRequest, LLMConfig

PROMPTS = [
    "Write a Python function that returns the n-th Fibonacci number iteratively.",
    "Explain in three sentences what cross-validation is for.",
    "Write pandas code that fills missing numeric values with the column median.",
    "List five features that could help predict house prices.",
    "Write a scikit-learn pipeline with a StandardScaler and a LogisticRegression.",
    "What is the difference between accuracy and ROC AUC? Answer briefly.",
    "Write a function that one-hot encodes the object columns of a DataFrame.",
    "Give three ways to reduce overfitting of a gradient boosting model.",
]


def serve_pids() -> list[int]:
    """Our Serve replica and HTTP proxy: descendants of this process (ray.init started their raylet)."""
    parents, titles = {}, {}
    for proc in Path("/proc").iterdir():
        try:
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            titles[int(proc.name)] = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return [pid for pid in found if titles[pid].startswith(("ray::ServeReplica", "ray::ProxyActor"))]


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of this process and of `pids` (user + system, all threads)."""
    total = time.process_time()
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--requests", type=int, default=6, help="timed requests per path")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-threads", type=int, default=usable_cores(), help="engine threads (both paths)")
    args = parser.parse_args()

    import openai
    import ray
    from ray import serve

    from jobs.serve.command import start

    settings = {"model": args.model, "n_threads": args.n_threads, "n_parallel": 1, "n_ctx": 4096,
                "num_cpus": 1, "api_key_env": None}
    direct = EmbeddedLLM(LLMConfig(model=args.model, n_threads=args.n_threads, n_parallel=1, n_ctx=4096))
    # Ray starts its workers at nice 15; on a shared machine that alone would slow the replica against the
    # in-process engine (nice 0). `linguacodus serve` sets the same for the local cluster it starts.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             object_store_memory=100 << 20)
    try:
        url = start(settings, host="127.0.0.1", port=free_port())
        client = openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=600)
        pids = serve_pids()
        assert len(pids) == 2, f"expected one replica and one proxy, found {pids}"
        # (completion tokens, wall seconds, CPU seconds) of every timed request, per path
        timings: dict[str, list[tuple[int, float, float]]] = {"direct": [], "serve": [], "serve-stream": []}

        def via_direct(prompt: str) -> tuple[int, float]:
            t0 = time.perf_counter()
            resp = direct.chat(ChatRequest(messages=[{"role": "user", "content": prompt}],
                                           max_tokens=args.max_tokens, temperature=0.0, seed=0))
            return resp.completion_tokens, time.perf_counter() - t0

        def via_serve(prompt: str) -> tuple[int, float]:
            t0 = time.perf_counter()
            reply = client.chat.completions.create(model=args.model, messages=[{"role": "user", "content": prompt}],
                                                   max_tokens=args.max_tokens, temperature=0.0, seed=0)
            return reply.usage.completion_tokens, time.perf_counter() - t0

        def via_stream(prompt: str) -> tuple[int, float]:
            t0 = time.perf_counter()
            usage = None
            for chunk in client.chat.completions.create(
                    model=args.model, messages=[{"role": "user", "content": prompt}], max_tokens=args.max_tokens,
                    temperature=0.0, seed=0, stream=True, stream_options={"include_usage": True}):
                usage = chunk.usage or usage
            return usage.completion_tokens, time.perf_counter() - t0

        paths = {"direct": via_direct, "serve": via_serve, "serve-stream": via_stream}
        for fn in paths.values():  # warm-up: first-call costs (KV allocation, connection) are not throughput
            fn("Say hello.")
        for i in range(args.requests):
            prompt = PROMPTS[i % len(PROMPTS)]
            for name, fn in paths.items():
                cpu0 = cpu_seconds(pids)
                tokens, seconds = fn(prompt)
                timings[name].append((tokens, seconds, cpu_seconds(pids) - cpu0))
                print(f"request {i + 1}/{args.requests} {name:13s} {tokens:4d} tokens {seconds:6.2f}s "
                      f"{timings[name][-1][2]:6.2f} CPU-s", flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()

    print(f"model {args.model}, {args.n_threads} thread(s), {args.requests} requests x <= {args.max_tokens} tokens, "
          "sequential, interleaved")
    rate, per_cpu = {}, {}
    for name, runs in timings.items():
        tokens, seconds, cpu = (sum(r[k] for r in runs) for k in range(3))
        rate[name], per_cpu[name] = tokens / seconds, tokens / cpu
        print(f"{name:13s} {tokens:5d} tokens in {seconds:7.2f}s = {rate[name]:6.1f} tok/s "
              f"(median request {statistics.median(r[1] for r in runs):.2f}s); {per_cpu[name]:6.1f} tok/CPU-s")
    for name in ("serve", "serve-stream"):
        print(f"{name} / direct: {rate[name] / rate['direct']:.1%} of the tok/s (goal >= 90%), "
              f"{per_cpu[name] / per_cpu['direct']:.1%} of the tok/CPU-s")


if __name__ == "__main__":
    main()
