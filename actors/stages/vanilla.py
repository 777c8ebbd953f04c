"""Vanilla mode: one prompt from the description and data facts to a whole script, with the same
sandbox, fix budget, reflection and identical-error reset as the staged pipeline (the fix loop is
the same), so the benefit of the pipeline is measured on the same model."""
from __future__ import annotations

from dataclasses import dataclass

from actors.context import TaskContext
from actors.executor import Execution
from actors.llm.base import ChatRequest, extract_code
from actors.stages.coder import Coder
from actors.templates import render


@dataclass
class VanillaScript:
    """The fix loop's writer in vanilla mode: every repair rewrites the whole script."""

    coder: Coder
    ctx: TaskContext
    current: str | None = None
    tries: int = 0

    def script(self) -> str | None:
        if self.current is None and self.tries == 0:
            self.current = self.write(0)
        return self.current or None

    def write(self, try_index: int, previous: str | None = None, error: str | None = None,
              reflection: str | None = None) -> str:
        cfg = self.coder.config
        temps = cfg.temperatures
        prompt = render("vanilla", **self.ctx.prompt_vars(), previous=previous, error=error, reflection=reflection)
        reply = self.coder.llm.chat(ChatRequest(
            messages=[{"role": "system", "content": render("system")}, {"role": "user", "content": prompt}],
            max_tokens=2 * cfg.max_tokens, temperature=temps[min(try_index, len(temps) - 1)],
            seed=cfg.seed + try_index, tag="vanilla"))
        return extract_code(reply.text)  # a syntax error surfaces in the sandbox run, traceback and all

    def reflect(self, failure: Execution) -> str:
        return self.coder.reflect(self.ctx, failure.script, failure.error or "")

    def repair(self, failure: Execution, reflection: str | None, reset: bool, parent: int) -> bool:
        self.tries += 1
        self.current = (self.write(self.tries) if reset else
                        self.write(self.tries, previous=failure.script, error=failure.error, reflection=reflection))
        return bool(self.current)
