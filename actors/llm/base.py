"""The one LLM interface of the project: `LLM.chat(ChatRequest) -> ChatResponse`, and its config.

Nothing here loads an engine. The backends import this module, never the other way round:
- `EmbeddedLLM` (actors/llm/embedded.py): xllamacpp in-process, model loaded once; the default, offline.
- `OpenAILLM` (actors/llm/openai_client.py): any OpenAI-compatible endpoint (Ray Serve, vLLM, llama.cpp).
- `CachedLLM` (actors/llm/cache.py) and `RecordingLLM` (actors/llm/recording.py): wrappers; a CachedLLM in
  replay mode with no inner model replays a recorded run offline.
`build_llm` (actors/llm/build.py) picks the backend a config asks for.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class ChatRequest:
    """One chat call. `tag` is metadata for the records (e.g. the stage name); it is never sent to the
    model and is not part of the cache key."""

    messages: list[dict]
    max_tokens: int = 512
    temperature: float = 0.2
    seed: int | None = 0
    json_schema: dict | None = None
    stop: list[str] | None = None
    tag: str | None = field(default=None, compare=False)
    # seconds the call may take, waiting for a free slot included; past them it is stopped and raises
    # LLMTimeoutError (a budget spent, not a fault: never retried). None: the backend's own timeout only
    time_limit_s: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ChatResponse:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str
    finish_reason: str  # "stop", "length" (cut off by max_tokens), ...
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChatResponse:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@runtime_checkable
class LLM(Protocol):
    name: str

    def chat(self, req: ChatRequest) -> ChatResponse: ...


class LLMConfig(BaseModel):
    """How to reach the language model. One config serves every backend; fields a backend does not use
    are ignored by it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    backend: Literal["embedded", "openai", "replay"] = Field(
        "embedded",
        description="embedded: xllamacpp in this process; openai: an OpenAI-compatible endpoint; "
        "replay: answer only from cache_dir (no model at all; a miss is an error).",
    )
    model: str = Field(
        "qwen2.5-coder-0.5b",
        description="Embedded: a name from actors.llm.models.MODELS. OpenAI: the served model name "
        "(if not set explicitly, env LINGUACODUS_LLM_MODEL overrides the default). Also the model "
        "part of the cache key.",
    )
    base_url: str | None = Field(
        None, description="OpenAI endpoint, e.g. http://127.0.0.1:8000/v1. Falls back to env "
        "LINGUACODUS_LLM_URL, then OPENAI_BASE_URL.",
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Name of the env var holding the API key; unset means 'EMPTY' "
        "(what local endpoints expect).",
    )
    n_ctx: int = Field(8192, ge=256, description="Embedded: context tokens per parallel slot.")
    n_threads: int | None = Field(
        None, ge=1, description="Embedded: CPU threads. None = every usable core. Measured on 2 cores "
        "(qwen 0.5B, bench/llm.py, 2026-11-23): idle, 2 threads prompt 122 / generate 22 tok/s vs 1 thread "
        "59 / 12; with one CPU-bound process beside it, 2 threads still 66 / 17-22. On a heavily shared host "
        "(load 7-9) 2 threads collapsed to 0.2-0.5 tok/s, because llama.cpp's threads wait for each other "
        "after every layer: set fewer threads there.",
    )
    n_parallel: int = Field(
        1, ge=1, description="Embedded: parallel slots (continuous batching). Concurrent chat() calls "
        "beyond this queue inside the engine.",
    )
    prompt_cache: bool = Field(
        True, description="Embedded: reuse the KV of the longest prefix shared with earlier prompts "
        "(a shared system prompt + task facts is read once, at ~100 tok/s on 2 cores). The price: a reply "
        "can differ slightly between a cold and a warm cache, so set False for bit-exact reproducibility "
        "(same seed -> same text) at the cost of re-reading every prompt.",
    )
    prompt_cache_mib: int = Field(
        1024, ge=0, description="Embedded: RAM for saved KV states, so a prompt sharing a long prefix "
        "with an earlier one (same system prompt / task facts) skips re-reading it.",
    )
    timeout_s: float = Field(600.0, gt=0, description="OpenAI: per-request timeout in seconds.")
    max_retries: int = Field(
        3, ge=0, description="OpenAI: retries on connection errors, timeouts, 429 and 5xx (then "
        "LLMUnavailableError).",
    )
    retry_backoff_s: float = Field(1.0, ge=0, description="OpenAI: first retry delay; doubles each retry.")
    cache_dir: str | None = Field(
        None, description="Local folder of cached replies (CachedLLM). Set: every backend is wrapped "
        "read-write; required for backend=replay. Keep it local (one small file per call).",
    )
    gguf_path: str | None = Field(None, description="Embedded: use this GGUF file instead of `model`'s.")
    lora_path: str | None = Field(None, description="Embedded: a LoRA adapter in GGUF format to apply.")
    lora_scale: float = Field(1.0, description="Embedded: strength of the LoRA adapter.")
    lora_sha256: str | None = Field(None, description="Embedded: the adapter file's sha256, checked before it loads "
                                    "(a corrupt adapter is an error, not a silent base model).")
    lora_tags: list[str] | None = Field(None, description="Embedded: apply the adapter only to calls with these tags "
                                        "(e.g. instructor); the other calls see the base model. None: every call.")


def llm_name(cfg: LLMConfig) -> str:
    """The model name every backend reports (and the cache keys on), computed without loading anything,
    so a replay config that mirrors the recording config finds the same keys."""
    from pathlib import Path

    name = cfg.model
    if cfg.backend == "openai" and "model" not in cfg.model_fields_set:
        name = os.environ.get("LINGUACODUS_LLM_MODEL", name)
    if cfg.gguf_path and cfg.backend != "openai":
        name = Path(cfg.gguf_path).stem
    if cfg.lora_path and cfg.backend != "openai":
        name += f"+lora:{Path(cfg.lora_path).stem}"
    return name


# An opening fence (``` or ~~~, optional language), the body, then a closing fence or the end of text.
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_FENCE_LINE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*[\w+.-]*[ \t]*$")
_PYTHON_TAGS = {"", "python", "python3", "py", "py3", "ipython", "python2"}


def extract_code(text: str) -> str:
    """The Python code in a model reply: the longest ```python (or untagged) block; a block whose closing
    fence was cut off runs to the end; a reply with no fence at all is taken as code."""
    blocks = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]
    if not blocks:
        return text.strip() + "\n" if text.strip() else ""
    python = [body for tag, body in blocks if tag in _PYTHON_TAGS]
    best = max(python or [body for _, body in blocks], key=len)
    # A stray empty fence before the real one ("```\n\n```python\n...") makes the block swallow the
    # second opening fence; a line that is only a fence is never Python, so drop such lines.
    best = "\n".join(line for line in best.splitlines() if not _FENCE_LINE.match(line))
    return best.strip("\n") + "\n"


class NoLLM:
    """The model of a run without one (`--mode search`): nothing may call it."""

    name = "none"

    def chat(self, req: ChatRequest) -> ChatResponse:
        raise RuntimeError("this run has no LLM (search mode)")
