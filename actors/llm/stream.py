"""Streamed chat-completion chunks folded into the reply the non-streaming call gives: the embedded
engine's limited calls (actors/llm/embedded.py) and the served API's non-streaming answers
(jobs/serve/embedded.py) both read llama.cpp's stream this one way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Assembly:
    text: list[str] = field(default_factory=list)
    finish: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def written(self) -> int:
        """Chunks with content: one per generated token."""
        return sum(1 for piece in self.text if piece)

    def add(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """Fold one chunk in; an error chunk is returned (and nothing folded) for the caller to raise."""
        if "error" in chunk:
            return chunk
        for choice in chunk.get("choices") or []:
            self.text.append((choice.get("delta") or {}).get("content") or "")
            self.finish = choice.get("finish_reason") or self.finish
        self.usage = chunk.get("usage") or self.usage
        self.timings = chunk.get("timings") or self.timings
        return None

    def choice(self) -> dict[str, Any]:
        return {"index": 0, "message": {"role": "assistant", "content": "".join(self.text)},
                "finish_reason": self.finish or "stop"}
