"""Vanilla mode: one prompt from the description and data facts to a whole script, with the same
sandbox, fix budget, reflection and identical-error reset as the staged pipeline, so the benefit
of the pipeline is measured on the same model."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from actors.stages.coder import Sink
from actors.context import TaskContext
from actors.executor import ExecutionOutcome, Executor
from actors.llm.base import ChatRequest, extract_code
from actors.templates import render


def write_script(executor: Executor, ctx: TaskContext, try_index: int, previous: str | None = None,
                 error: str | None = None, reflection: str | None = None) -> str:
    coder = executor.coder
    temps = coder.config.temperatures
    prompt = render("vanilla", **ctx.prompt_vars(), previous=previous, error=error, reflection=reflection)
    reply = coder.llm.chat(ChatRequest(
        messages=[{"role": "system", "content": render("system")}, {"role": "user", "content": prompt}],
        max_tokens=2 * coder.config.max_tokens, temperature=temps[min(try_index, len(temps) - 1)],
        seed=coder.config.seed + try_index))
    return extract_code(reply.text)  # a syntax error surfaces in the sandbox run, traceback and all


def vanilla_loop(executor: Executor, ctx: TaskContext, inputs: dict[str, Path], sink: Sink,
                 test_ids: pd.Series) -> ExecutionOutcome:
    state: dict[str, object] = {"script": write_script(executor, ctx, 0), "tries": 0}

    def repair(stage: str | None, script: str, error: str, reflection: str, reset: bool) -> bool:
        state["tries"] = int(state["tries"]) + 1  # type: ignore[arg-type]
        n = int(state["tries"])  # type: ignore[arg-type]
        state["script"] = (write_script(executor, ctx, n) if reset else
                           write_script(executor, ctx, n, previous=script, error=error, reflection=reflection))
        return bool(state["script"])

    return executor.run(ctx, inputs, sink, test_ids, script_for=lambda: state["script"] or None,  # type: ignore[return-value]
                        repair=repair, log_prefix="vanilla")
