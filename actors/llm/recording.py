"""RecordingLLM: every call through it kept as a record (prompt, reply, tokens, seconds, error)."""
from __future__ import annotations

import threading
import time
from typing import Any

from actors.llm.base import LLM, ChatRequest, ChatResponse


class RecordingLLM:
    """Wraps any LLM and keeps one dict per call in `.calls` (successful or not).

    Cheap to create (it holds no model): make one per competition around a shared LLM, and `drain()` it
    when storing that competition's records. A lock makes sharing one across threads safe too.
    """

    def __init__(self, inner: LLM):
        self.inner = inner
        self.name = inner.name
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def chat(self, req: ChatRequest) -> ChatResponse:
        ts = time.time()
        t0 = time.perf_counter()
        record: dict[str, Any] = {
            "tag": req.tag, "messages": req.messages, "model": self.name, "temperature": req.temperature,
            "seed": req.seed, "max_tokens": req.max_tokens, "json_schema": req.json_schema, "ts": ts,
        }
        try:
            resp = self.inner.chat(req)
        except Exception as e:
            record.update(reply=None, prompt_tokens=0, completion_tokens=0, cached=False,
                          seconds=time.perf_counter() - t0, finish_reason=None,
                          error=f"{type(e).__name__}: {e}")
            self._append(record)
            raise
        record.update(reply=resp.text, prompt_tokens=resp.prompt_tokens,
                      completion_tokens=resp.completion_tokens, seconds=resp.seconds, model=resp.model,
                      cached=resp.cached, finish_reason=resp.finish_reason, error=None)
        self._append(record)
        return resp

    def __getstate__(self) -> dict[str, Any]:  # locks do not pickle; Ray may ship this to a worker
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _append(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(record)

    def drain(self) -> list[dict[str, Any]]:
        """The calls recorded so far, removing them (so the next competition starts empty)."""
        with self._lock:
            calls, self.calls = self.calls, []
        return calls

    def totals(self) -> dict[str, float]:
        """Token and time sums over the calls not yet drained (for the results row)."""
        with self._lock:
            calls = list(self.calls)
        return {
            "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
            "completion_tokens": sum(c["completion_tokens"] for c in calls),
            "seconds_llm": sum(c["seconds"] for c in calls),
            "n_calls": len(calls),
        }
