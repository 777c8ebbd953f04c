"""ScriptedLLM: a deterministic stand-in for the LLM in control-flow unit tests (never in integration tests)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from actors.llm.base import ChatRequest, ChatResponse


class ScriptedLLM:
    """Answers with the next reply of a script, or with `script(request)` when given a function.

    Token counts are len(text) // 4 (a rough chars-per-token ratio), so accounting code sees
    non-zero, reproducible numbers. Every request is kept in `.requests` for assertions.
    """

    def __init__(self, script: Sequence[str] | Callable[[ChatRequest], str], name: str = "scripted"):
        self.name = name
        self._script = script
        self._next = 0
        self.requests: list[ChatRequest] = []

    def chat(self, req: ChatRequest) -> ChatResponse:
        self.requests.append(req)
        if callable(self._script):
            text = self._script(req)
        else:
            if self._next >= len(self._script):
                raise AssertionError(f"ScriptedLLM ran out of replies after {len(self._script)} call(s)")
            text = self._script[self._next]
            self._next += 1
        prompt = "".join(str(m.get("content", "")) for m in req.messages)
        return ChatResponse(text=text, prompt_tokens=len(prompt) // 4, completion_tokens=len(text) // 4,
                            seconds=0.0, model=self.name, finish_reason="stop")
