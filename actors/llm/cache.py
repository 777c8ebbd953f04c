"""CachedLLM: replies on disk, so a run can be replayed offline.

CachedLLM keeps one JSON file per distinct request under a local folder (`<dir>/<key[:2]>/<key>.json`,
written atomically). The key is the sha256 of the canonical JSON of (model name, messages, max_tokens,
temperature, seed, json_schema, stop). Keep the folder local: it is many small files, read on every call.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from actors.errors import ConfigError, LLMResponseError
from actors.llm.base import LLM, ChatRequest, ChatResponse

log = logging.getLogger(__name__)


def cache_key(model: str, req: ChatRequest) -> str:
    payload = {
        "model": model,
        "messages": req.messages,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "seed": req.seed,
        "json_schema": req.json_schema,
        "stop": req.stop,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class CachedLLM:
    """Answers a request seen before from disk; otherwise asks `inner` and stores the reply.

    mode="readwrite": hit -> stored reply; miss -> inner, then store.
    mode="replay": never writes; a miss goes to `inner` if there is one, else raises LLMResponseError
    naming the key (so a run can be replayed offline with no model at all).
    Requests with seed=None and temperature > 0 are random by intent: in readwrite mode they always go to
    the model (the reply is still stored, for replay).
    """

    def __init__(self, inner: LLM | None, cache_dir: str | Path,
                 mode: Literal["readwrite", "replay"] = "readwrite", model_name: str | None = None):
        if mode not in ("readwrite", "replay"):
            raise ConfigError(f"CachedLLM mode must be 'readwrite' or 'replay', not {mode!r}")
        if inner is None and mode != "replay":
            raise ConfigError("CachedLLM without an inner model only works in replay mode")
        if inner is None and model_name is None:
            raise ConfigError("CachedLLM without an inner model needs model_name (the key's model part)")
        self.inner = inner
        self.mode = mode
        self.name = model_name or inner.name  # type: ignore[union-attr]
        self.cache_dir = Path(cache_dir)
        self.hits = 0
        self.misses = 0

    def path_for(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def chat(self, req: ChatRequest) -> ChatResponse:
        t0 = time.perf_counter()
        key = cache_key(self.name, req)
        path = self.path_for(key)
        random_by_intent = req.seed is None and req.temperature > 0
        if self.mode == "replay" or not random_by_intent:
            stored = self._read(path)
            if stored is not None:
                self.hits += 1
                resp = ChatResponse.from_dict(stored["response"])
                # seconds = what this call cost now; the original cost stays in the file
                return dataclasses.replace(resp, cached=True, seconds=time.perf_counter() - t0)
        self.misses += 1
        if self.inner is None:
            raise LLMResponseError(f"replay cache miss: no reply for key {key} ({path}) of model "
                                   f"{self.name!r}; the recorded run never made this exact call")
        resp = self.inner.chat(req)
        if self.mode == "readwrite":
            self._write(path, {"key": key, "model": self.name, "request": _request_dict(req),
                               "response": resp.to_dict(), "ts": time.time()})
        return resp

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:  # a damaged entry is a miss, not a crash
            log.warning("ignoring unreadable cache entry %s: %s", path, e)
            return None

    def _write(self, path: Path, record: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, ensure_ascii=False, indent=1)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _request_dict(req: ChatRequest) -> dict[str, Any]:
    return {"messages": req.messages, "max_tokens": req.max_tokens, "temperature": req.temperature,
            "seed": req.seed, "json_schema": req.json_schema, "stop": req.stop, "tag": req.tag}
