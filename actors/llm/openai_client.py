"""OpenAILLM: any OpenAI-compatible chat endpoint (Ray Serve, vLLM, llama.cpp server, xllamacpp's HTTP).

Errors are mapped onto our tree: connection errors, timeouts (incl. HTTP 408), 429 and 5xx are retried `max_retries`
times with exponential backoff and then raise LLMUnavailableError (retryable); other 4xx and unusable
replies raise LLMResponseError (fatal). The openai client's own retries are off so that this module is
the only place that decides.
"""
from __future__ import annotations

import logging
import os
import random
import time
from typing import Any

import openai

from actors.errors import ConfigError, LLMResponseError, LLMTimeoutError, LLMUnavailableError
from actors.llm.base import ChatRequest, ChatResponse, LLMConfig, llm_name

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0


def resolve_base_url(cfg: LLMConfig) -> str:
    url = cfg.base_url or os.environ.get("LINGUACODUS_LLM_URL") or os.environ.get("OPENAI_BASE_URL")
    if not url:
        raise ConfigError("backend 'openai' needs base_url (or env LINGUACODUS_LLM_URL / OPENAI_BASE_URL)")
    return url


class OpenAILLM:
    def __init__(self, cfg: LLMConfig):
        self.cfg = cfg
        self.name = llm_name(cfg)
        self.base_url = resolve_base_url(cfg)
        # "EMPTY" is what vLLM / llama.cpp servers without a key accept
        api_key = os.environ.get(cfg.api_key_env) or "EMPTY"
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=cfg.timeout_s,
                                    max_retries=0)

    def _body(self, req: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": req.messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
        }
        if req.seed is not None:
            body["seed"] = req.seed
        if req.stop:
            body["stop"] = req.stop
        if req.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": req.json_schema, "strict": True},
            }
        return body

    def chat(self, req: ChatRequest) -> ChatResponse:
        body = self._body(req)
        t0 = time.perf_counter()
        attempts = self.cfg.max_retries + 1
        limit = req.time_limit_s
        for attempt in range(1, attempts + 1):
            # with a time limit each attempt gets what is left of it; the limit spent is no fault to retry
            timeout = self.cfg.timeout_s if limit is None else min(self.cfg.timeout_s, limit - (time.perf_counter() - t0))
            try:
                completion = self.client.chat.completions.create(**body, timeout=max(timeout, 0.01))
                return self._response(completion, time.perf_counter() - t0)
            except (openai.APIConnectionError, openai.APIStatusError) as e:
                if not _retryable(e):
                    raise LLMResponseError(f"{self.base_url} rejected the request: {_describe(e)}") from e
                if limit is not None and time.perf_counter() - t0 >= limit:
                    raise LLMTimeoutError(f"{self.base_url}: stopped after {time.perf_counter() - t0:.0f} s, its time "
                                          f"limit {limit:.0f} s ({_describe(e)})") from e
                if attempt == attempts:
                    raise LLMUnavailableError(
                        f"{self.base_url} unavailable after {attempts} attempt(s): {_describe(e)}") from e
                delay = min(self.cfg.retry_backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S)
                delay *= random.uniform(0.8, 1.2)  # jitter: many actors retrying must not move in lockstep
                log.warning("LLM call to %s failed (%s); retry %d/%d in %.1fs",
                            self.base_url, _describe(e), attempt, attempts - 1, delay)
                time.sleep(delay)
            except openai.APIError as e:  # e.g. a reply body that is not a chat completion
                raise LLMResponseError(f"{self.base_url} returned an unusable reply: {e}") from e
        raise AssertionError("unreachable")

    def _response(self, completion: Any, seconds: float) -> ChatResponse:
        choices = getattr(completion, "choices", None)
        if not choices or choices[0].message is None:
            raise LLMResponseError(f"{self.base_url} returned no choices")
        choice = choices[0]
        usage = getattr(completion, "usage", None)
        return ChatResponse(
            text=choice.message.content or "",
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            seconds=seconds,
            model=getattr(completion, "model", None) or self.name,
            finish_reason=choice.finish_reason or "unknown",
        )


def _retryable(e: openai.APIConnectionError | openai.APIStatusError) -> bool:
    """Connection errors and timeouts (APITimeoutError is an APIConnectionError), 429, every 5xx, and 408:
    Ray Serve's proxy (http_options.request_timeout_s) and ray.serve.llm's router time out with 408."""
    if isinstance(e, openai.APIConnectionError):
        return True
    return e.status_code in (408, 429) or e.status_code >= 500


def _describe(e: Exception) -> str:
    status = getattr(e, "status_code", None)
    return f"HTTP {status}: {e}" if status else f"{type(e).__name__}: {e}"
