"""EmbeddedLLM: a GGUF model run in-process by xllamacpp (llama.cpp's own server engine), loaded once.

Facts about xllamacpp that this class relies on (measured with xllamacpp 2026.10):
- `Server(CommonParams)` loads the model and starts llama.cpp's task loop in a C++ thread. It is
  thread-safe: `handle_chat_completions(dict)` may be called from many Python threads at once (the GIL
  is released while waiting); `n_parallel` requests run batched, the rest queue inside the engine.
- The same Server also serves llama.cpp's HTTP API (OpenAI-compatible /v1/chat/completions, /health,
  /v1/models, /lora-adapters, /slots) on `hostnames[0]:port` (port 0 = a free port), always; there is
  no switch to turn it off. We lock it with a random API key unless one is given (`http_api_key`), so
  only this process, or whoever is handed the key, can use it. `http_base_url` is where it listens.
- Errors come back as {"error": {"code", "message", "type"}} (e.g. 400 exceed_context_size_error);
  a malformed request raises ValueError; a model or LoRA that fails to load raises RuntimeError.
- `n_ctx` is split across slots, so we ask for n_ctx * n_parallel to give each slot `n_ctx`.
- Streaming: pass "stream": True and a callback(chunk_dict) (return True from it to stop early).
- Determinism: same seed + same request gives the same text only without prompt caching; with it, the
  first (cold) call can differ from later (warm) ones because the prompt is evaluated in other batches.
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Self

from actors.errors import LLMResponseError, LLMTimeoutError, LLMUnavailableError, ModelFileError
from actors.llm.adapters import verify
from actors.llm.base import ChatRequest, ChatResponse, LLMConfig, llm_name
from actors.llm.stream import Assembly
from actors.llm.weights import check_gguf_magic, resolve_gguf

log = logging.getLogger(__name__)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """Every usable core (see LLMConfig.n_threads for the measurements, and when to use fewer)."""
    return usable_cores()


class EmbeddedLLM:
    """An LLM answered by an in-process llama.cpp engine. Build once per process (or Ray actor)."""

    def __init__(self, cfg: LLMConfig | None = None, *, http_host: str = "127.0.0.1", http_port: int = 0,
                 http_api_key: str | None = None, model_cache_dir: Path | None = None):
        import xllamacpp

        self.cfg = cfg = cfg or LLMConfig()
        self.name = llm_name(cfg)
        self.gguf_path = Path(cfg.gguf_path) if cfg.gguf_path else resolve_gguf(cfg.model, model_cache_dir)
        check_gguf_magic(self.gguf_path)
        self.n_threads = cfg.n_threads or default_threads()
        self.http_api_key = http_api_key or secrets.token_urlsafe(24)

        p = xllamacpp.CommonParams()
        p.model.path = str(self.gguf_path)
        p.model_alias = {self.name}  # the name the HTTP API lists and answers with (default: the file path)
        p.n_parallel = cfg.n_parallel
        p.n_ctx = cfg.n_ctx * cfg.n_parallel
        p.cpuparams.n_threads = self.n_threads
        p.cpuparams_batch.n_threads = self.n_threads
        p.cache_prompt = cfg.prompt_cache
        p.cache_ram_mib = cfg.prompt_cache_mib if cfg.prompt_cache else 0
        p.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else 1  # 1: errors only on stderr
        p.api_keys = [self.http_api_key]
        p.hostnames = [http_host]
        p.port = http_port
        if cfg.lora_path:
            lora = Path(cfg.lora_path)
            verify(lora, cfg.lora_sha256)
            check_gguf_magic(lora)  # PEFT safetensors must be converted to GGUF first
            p.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(lora), cfg.lora_scale)]
            # loaded at scale 0 and switched on per request (llama.cpp's "lora" field) for its tags only
            p.lora_init_without_apply = cfg.lora_tags is not None

        t0 = time.perf_counter()
        try:
            self._server: Any = xllamacpp.Server(p)
        except RuntimeError as e:
            what = f"{self.gguf_path}" + (f" with LoRA {cfg.lora_path}" if cfg.lora_path else "")
            raise ModelFileError(f"llama.cpp could not load {what} (n_ctx={p.n_ctx}): {e}") from e
        self.load_seconds = time.perf_counter() - t0
        # llama.cpp's own timings of the latest call (prompt_n, prompt_per_second, predicted_per_second,
        # cache_n...): diagnostics for bench/llm.py; racy if calls run in parallel
        self.last_timings: dict[str, Any] = {}
        log.info("loaded %s from %s in %.1fs (n_ctx=%d per slot, %d slot(s), %d threads)",
                 self.name, self.gguf_path, self.load_seconds, cfg.n_ctx, cfg.n_parallel, self.n_threads)

    @property
    def http_base_url(self) -> str:
        """Where the engine's OpenAI-compatible HTTP API listens (append /v1 for the openai client)."""
        return self._server.listening_address

    def describe(self) -> dict[str, Any]:
        """Facts for run.json."""
        return {"backend": "embedded", "model": self.name, "gguf_path": str(self.gguf_path),
                "lora_path": self.cfg.lora_path, "n_ctx": self.cfg.n_ctx, "n_parallel": self.cfg.n_parallel,
                "n_threads": self.n_threads, "load_seconds": round(self.load_seconds, 3)}

    def _body(self, req: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": req.messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            # reuse the KV of a shared prefix; costs bit-exactness between cold and warm (see LLMConfig)
            "cache_prompt": self.cfg.prompt_cache,
        }
        if req.seed is not None:
            body["seed"] = req.seed
        if self.cfg.lora_path and self.cfg.lora_tags is not None:
            on = req.tag in self.cfg.lora_tags
            body["lora"] = [{"id": 0, "scale": self.cfg.lora_scale if on else 0.0}]
        if req.stop:
            body["stop"] = req.stop
        if req.json_schema is not None:
            # enforced by a grammar (llguidance) while sampling, so the reply parses unless cut off
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "reply", "schema": req.json_schema}}
        return body

    def chat(self, req: ChatRequest) -> ChatResponse:
        if self._server is None:
            raise LLMUnavailableError(f"embedded model {self.name} was closed")
        t0 = time.perf_counter()
        try:
            if req.time_limit_s is None:
                result = self._server.handle_chat_completions(self._body(req))
            else:
                result = self._streamed(req, t0)
        except (ValueError, RuntimeError) as e:
            raise LLMResponseError(f"embedded model {self.name} rejected the request: {e}") from e
        seconds = time.perf_counter() - t0
        self.last_timings = result.get("timings") or {}
        if "error" in result:
            err = result["error"]
            msg = f"embedded model {self.name}: {err.get('type', 'error')}: {err.get('message')}"
            if int(err.get("code") or 500) >= 500:
                raise LLMUnavailableError(msg)
            raise LLMResponseError(msg)
        try:
            choice = result["choices"][0]
            usage = result.get("usage") or {}
            return ChatResponse(
                text=choice["message"].get("content") or "",
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                seconds=seconds,
                model=self.name,
                finish_reason=choice.get("finish_reason") or "unknown",
            )
        except (KeyError, IndexError, TypeError) as e:
            raise LLMResponseError(f"embedded model {self.name} returned an unexpected reply: {result!r:.300}") \
                from e

    def _streamed(self, req: ChatRequest, t0: float) -> dict[str, Any]:
        """The call in streaming mode, stopped at its next token once `req.time_limit_s` has passed (then
        LLMTimeoutError); otherwise the chunks assembled into the reply the non-streaming call gives."""
        assert self._server is not None and req.time_limit_s is not None
        limit = req.time_limit_s
        chunks: list[dict[str, Any]] = []

        def on_chunk(chunk: dict[str, Any]) -> bool:  # runs in this thread, inside the engine call
            chunks.append(chunk)
            return time.perf_counter() - t0 > limit  # True stops this request

        body = self._body(req) | {"stream": True, "stream_options": {"include_usage": True}}
        self._server.handle_chat_completions(body, on_chunk)
        reply = Assembly()
        for chunk in chunks:
            if error := reply.add(chunk):
                return error
        if reply.finish is None and time.perf_counter() - t0 > limit:
            raise LLMTimeoutError(f"embedded model {self.name}: stopped after {time.perf_counter() - t0:.0f} s, "
                                  f"its time limit {limit:.0f} s ({reply.written} tokens written)")
        return {"choices": [reply.choice()], "usage": reply.usage, "timings": reply.timings}

    def close(self) -> None:
        """Stop the engine and free the model (also happens when the object is garbage-collected)."""
        self._server = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_config(cfg: LLMConfig) -> None:
    """Fail fast (before any Ray actor starts) if the embedded model of `cfg` cannot be found."""
    if cfg.gguf_path:
        check_gguf_magic(Path(cfg.gguf_path))
    else:
        resolve_gguf(cfg.model)
    if cfg.lora_path:
        verify(Path(cfg.lora_path), cfg.lora_sha256)
