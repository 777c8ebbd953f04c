"""`linguacodus serve`: the instruction model behind an OpenAI-compatible API on Ray Serve.

The application is `jobs.serve.app:build_app(args)` (also the RayService's import_path); `args` is
validated as `ServeArgs` (jobs/serve/args.py):
- backend "embedded" (CPU, the default): one xllamacpp engine per replica (jobs/serve/embedded.py),
  FastAPI ingress with /v1/models and /v1/chat/completions (streaming SSE and not), usage included,
  `response_format` json_schema enforced by the engine's grammar.
- backend "vllm" (GPU): ray.serve.llm's OpenAI app with one vLLM engine per replica and LoRA adapters
  (jobs/serve/vllm.py). vllm and ray.serve.llm are imported only on that path.

Overload: each replica takes `max_ongoing_requests`; beyond that callers queue in Serve up to
`max_queued_requests` and then get HTTP 503 (Serve's BackPressureError), which OpenAILLM retries with
backoff and finally raises LLMUnavailableError (retryable). A request running longer than
`request_timeout_s` is stopped in the engine and answered 504 (retryable as well).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

from jobs.serve.app import build_app
from jobs.serve.args import ServeArgs

logger = logging.getLogger(__name__)

APP_NAME = "instruct"
# the proxy's own timeout is a backstop behind the replica's: it answers 408 and cannot stop the engine
PROXY_TIMEOUT_GRACE_S = 30.0


def _adapter(value: str) -> dict[str, str | None]:
    """--adapter [NAME=]URI"""
    name, sep, path = value.partition("=")
    if not sep or "://" in name or "/" in name:
        return {"name": None, "path": value}
    return {"name": name, "path": path}


def args_from_cli(ns: argparse.Namespace) -> dict[str, Any]:
    """ServeArgs as a dict from the `linguacodus serve` flags (only the flags that were given)."""
    out: dict[str, Any] = {"backend": ns.backend, "replicas": ns.replicas, "api_key_env": ns.api_key_env or None,
                           "max_ongoing_requests": ns.max_ongoing_requests,
                           "max_queued_requests": ns.max_queued_requests, "request_timeout_s": ns.request_timeout}
    for key in ("model", "gguf", "served_model_name", "num_cpus", "n_threads", "n_ctx", "n_parallel",
                "max_model_len", "tensor_parallel_size", "gpu_memory_utilization"):
        if getattr(ns, key) is not None:
            out[key] = getattr(ns, key)
    if ns.adapter:
        out["lora_adapters"] = [_adapter(a) for a in ns.adapter]
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the instruction model behind an OpenAI-compatible API (Ray Serve)",
                       description="Serve the instruction model behind an OpenAI-compatible API (/v1/models, "
                       "/v1/chat/completions, streaming or not) on Ray Serve: the embedded engine on CPU, or "
                       "vLLM on GPUs. Prints the base URL to give `linguacodus run --llm-url`; Ctrl-C stops it.")
    p.add_argument("--backend", choices=("embedded", "vllm"), default="embedded",
                   help="embedded: the xllamacpp engine on CPU (default); vllm: vLLM on GPUs (the gpu extra)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", default=None, help="embedded model name (default qwen2.5-coder-0.5b) or, "
                     "with --backend vllm, a Hugging Face id / s3:// checkpoint folder")
    src.add_argument("--gguf", default=None, help="embedded: a GGUF file to serve (local or s3://)")
    p.add_argument("--adapter", action="append", default=None, metavar="[NAME=]URI",
                   help="LoRA adapter (embedded: a GGUF LoRA, one; vllm: PEFT folders, repeatable)")
    p.add_argument("--served-model-name", default=None, help="model name clients use")
    p.add_argument("--replicas", type=int, default=1, help="replicas of the model (each loads its own engine)")
    p.add_argument("--max-ongoing-requests", type=int, default=4, help="requests per replica at once")
    p.add_argument("--max-queued-requests", type=int, default=64, help="queued beyond that, then 503 (-1: no limit)")
    p.add_argument("--request-timeout", type=float, default=600.0, help="seconds one request may run")
    p.add_argument("--host", default="127.0.0.1", help="address Serve's HTTP proxy listens on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=8000, help="port of Serve's HTTP proxy")
    p.add_argument("--num-cpus", type=float, default=None, help="embedded: logical CPUs per replica (default 1)")
    p.add_argument("--threads", dest="n_threads", type=int, default=None, metavar="N",
                   help="embedded: engine threads per replica (default: every usable core)")
    p.add_argument("--n-threads", dest="n_threads", type=int, default=None, help=argparse.SUPPRESS)  # old name
    p.add_argument("--n-ctx", type=int, default=None, help="embedded: context tokens per slot (default 8192)")
    p.add_argument("--n-parallel", type=int, default=None, help="embedded: slots per engine (default 2)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="if this env var is set, clients must send it "
                   "as 'Authorization: Bearer' (OpenAILLM sends $OPENAI_API_KEY); '' turns auth off")
    p.add_argument("--max-model-len", type=int, default=None, help="vllm: context length")
    p.add_argument("--tensor-parallel-size", type=int, default=None, help="vllm: GPUs per replica")
    p.add_argument("--gpu-memory-utilization", type=float, default=None, help="vllm: GPU memory share")
    p.set_defaults(func=_main)


def start(app_args: dict[str, Any], *, host: str, port: int, name: str = APP_NAME, route_prefix: str = "/") -> str:
    """Start Serve's HTTP proxy on host:port (if Serve is not running yet), deploy the app under
    route_prefix and return its OpenAI base URL. Ray must be initialised already."""
    from ray import serve

    serve.start(http_options={"host": host, "port": port,
                              "request_timeout_s": float(app_args.get("request_timeout_s", 600.0))
                              + PROXY_TIMEOUT_GRACE_S})
    serve.run(build_app(app_args), name=name, route_prefix=route_prefix, blocking=False)
    return f"http://{host}:{port}{route_prefix.rstrip('/')}/v1"


def _main(ns: argparse.Namespace) -> int:
    import ray
    from ray import serve

    app_args = args_from_cli(ns)
    try:
        settings = ServeArgs.model_validate(app_args)  # fail before starting Ray
    except ValueError as exc:
        print(f"linguacodus serve: invalid settings: {exc}", file=sys.stderr)
        return 2
    connect = bool(os.environ.get("RAY_ADDRESS"))
    if not connect:
        # Ray starts workers at nice 15; here the replicas are the workload, and at nice 15 they lose to any
        # other process on the machine (measured: 77% of the in-process engine's tokens/s under load, 100% at 0)
        os.environ.setdefault("RAY_worker_niceness", "0")
    if not ray.is_initialized():
        ray.init(**({} if connect else {"address": "local"}), include_dashboard=False,
                 logging_level=logging.WARNING)
    try:
        url = start(app_args, host=ns.host, port=ns.port)
        key = settings.api_key_env if settings.api_key_env and os.environ.get(settings.api_key_env) else None
        auth = f"; clients must send ${key} as bearer key" if key else ""
        print(f"linguacodus serve: OpenAI-compatible API at {url} (model {_served_name(url, key)}){auth}; "
              "Ctrl-C stops it", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        if connect:  # someone else's cluster: remove only our app
            serve.delete(APP_NAME)
        else:  # a cluster we started goes away with this process
            serve.shutdown()
    return 0


def _served_name(base_url: str, api_key_env: str | None) -> str:
    import json
    import urllib.request

    req = urllib.request.Request(f"{base_url}/models")
    if api_key_env and os.environ.get(api_key_env):
        req.add_header("Authorization", f"Bearer {os.environ[api_key_env]}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return ", ".join(m["id"] for m in json.load(resp)["data"])
    except Exception:  # noqa: BLE001 - only for the banner
        return "?"
