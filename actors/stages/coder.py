"""Stage 4, coder: the task-specific stage functions, generated one at a time under a contract and
each checked right away on a sample of the real data in the sandbox (Text-to-ML style).

A stage is checked inside the full harness with the *built-in* stages standing in for the ones not
yet accepted, so a check exercises the generated function exactly as the final script will. Failed
checks come back as specific feedback (contract messages are written for the model); the same error
twice resets the conversation with a new seed, because small models at low temperature otherwise
return the same code (LESSONS.md #4).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from actors.context import TaskContext
from actors.deadline import Deadline
from actors.harness.diagnose import stage_error
from actors.harness.integrate import STAGE_FUNCTIONS, StageCodeError, assemble, floor_stages, sanitize_stage
from actors.journal import Journal, StageAttempt
from actors.llm.base import LLM, ChatRequest, extract_code
from actors.sandbox.sandbox import ExecutionResult, Sandbox
from actors.stages import plans
from actors.stages.instruction import Instruction
from actors.stages.prompts import stage_messages
from actors.templates import render

logger = logging.getLogger(__name__)
STAGES = tuple(STAGE_FUNCTIONS)


class CoderConfig(BaseModel):
    stage_tries: int = Field(3, ge=1, description="LLM attempts per stage before integration goes on without it.")
    temperatures: list[float] = Field([0.2, 0.6, 0.9], description="Temperature of attempt i (last one repeats).")
    max_tokens: int = Field(900, description="Completion budget of one stage function.")
    reflect_tokens: int = Field(120, description="Completion budget of a reflection on an error.")
    check_sample: int = Field(300, description="Rows of train/test the stage checks run on.")
    check_timeout_s: float = Field(120.0, description="Wall-clock limit of one stage check.")
    seed: int = Field(0, description="Base sampling seed; attempt i uses seed + i.")
    styles: dict[str, str] = Field(
        {"preprocess": "plan", "model": "plan", "train": "plan", "predict": "harness"},
        description="Per stage: 'code' (the model writes the function) or 'plan' (the model writes a JSON plan "
        "under a grammar of this task's columns / the installed estimators, rendered to the function; "
        "actors/stages/plans.py). Plan is available for preprocess, model and train. predict is 'harness' (no LLM "
        "stage: the harness predicts and the metric decides the submission format) or 'code'.")

    def style(self, stage: str) -> str:
        style = self.styles.get(stage, "code")
        if (style not in ("plan", "code", "harness") or (style == "plan" and stage not in plans.PLAN_STAGES)
                or (style == "harness" and stage != "predict")):
            raise ValueError(f"stage {stage!r} cannot use style {style!r}")
        return style

    def generated_stages(self) -> tuple[str, ...]:
        """The stages the LLM writes, in order (a 'harness' predict is no LLM stage)."""
        return tuple(s for s in STAGES if self.style(s) != "harness")


class Coder:
    def __init__(self, llm: LLM, sandbox: Sandbox, config: CoderConfig | None = None) -> None:
        self.llm = llm
        self.sandbox = sandbox
        self.config = config or CoderConfig()

    def write_stage(self, ctx: TaskContext, plan: Instruction, stage: str, *, try_index: int, temperature: float,
                    previous: str | None = None, error: str | None = None, reflection: str | None = None) -> str:
        """One LLM call for one stage; returns sanitised code or raises StageCodeError."""
        cfg = self.config
        style = cfg.style(stage)
        messages = stage_messages(ctx, plan, stage, previous=previous, error=error, reflection=reflection, style=style)
        reply = self.llm.chat(ChatRequest(messages=messages, max_tokens=cfg.max_tokens, temperature=temperature,
                                          seed=cfg.seed + try_index, tag=f"stage:{stage}",
                                          json_schema=plans.schema(ctx, stage) if style == "plan" else None))
        if style == "plan":
            return sanitize_stage(stage, plans.render(ctx, stage, plans.parse(reply.text, stage)))
        return sanitize_stage(stage, extract_code(reply.text))

    def reflect(self, ctx: TaskContext, code: str, error: str) -> str:
        prompt = render("reflect", title=ctx.competition.title or ctx.competition.competition_id,
                        code=code, error=error[-1500:])
        reply = self.llm.chat(ChatRequest(messages=[{"role": "user", "content": prompt}],
                                          max_tokens=self.config.reflect_tokens, temperature=0.0,
                                          seed=self.config.seed, tag="reflect"))
        return reply.text.strip()

    def check(self, ctx: TaskContext, stages: dict[str, str], stage: str,
              inputs: dict[str, Path]) -> tuple[bool, str | None, ExecutionResult]:
        """Run the harness with `stages` (built-ins fill the gaps) on a sample; ok or the error text."""
        script = assemble(ctx.harness_constants(self.config.seed), {**floor_stages(), **stages})
        with tempfile.TemporaryDirectory(prefix="lc-check-") as tmp:
            work = Path(tmp)
            (work / "solution.py").write_text(script)
            result = self.sandbox.run(work / "solution.py", work, inputs,
                                      args=["--check", stage, "--sample", str(self.config.check_sample)])
            if result.ok and "LINGUACODUS_CHECK_OK" in result.stdout:
                return True, None, result
            _, error = stage_error(result, work, self.sandbox.config.timeout_s)
            return False, error, result

    def generate_stage(self, ctx: TaskContext, plan: Instruction, stage: str, accepted: dict[str, str],
                       inputs: dict[str, Path], journal: Journal, *, previous: str | None = None,
                       error: str | None = None, reflection: str | None = None, first_try: int = 0,
                       parent: int | None = None, deadline: Deadline | None = None) -> str | None:
        """Up to stage_tries generations of one stage, each checked and journaled; the first that passes,
        else None.

        With `previous`/`error` given, this is a fix: the first prompt shows the failed code, the error
        and the reflection on it, and `parent` is the journal id of the execution it fixes. Each later
        try points at the try before it. Past `deadline` (the LLM path's share) no further try is made:
        each costs a generation and a sandbox check."""
        cid = ctx.competition.competition_id
        reset = False
        for i in range(first_try, first_try + self.config.stage_tries):
            if i > first_try and deadline is not None and deadline.passed():
                logger.info("%s coder: stage %s: %s", cid, stage, deadline.why(f"after {i - first_try} tries"))
                return None
            temps = self.config.temperatures
            temperature = temps[min(i - first_try, len(temps) - 1)]
            code = None
            try:
                code = self.write_stage(ctx, plan, stage, try_index=i, temperature=temperature, previous=previous,
                                        error=error, reflection=reflection)
                ok, new_error, _ = self.check(ctx, {**accepted, stage: code}, stage, inputs)
            except StageCodeError as exc:
                ok, new_error = False, str(exc)
            parent = journal.add("stage", StageAttempt(stage, i, code or "", ok, new_error, temperature, reflection,
                                                       reset, self.config.style(stage)), parent)
            logger.info("%s coder: stage %s try %d %s", cid, stage, i, "passed" if ok else f"failed: {new_error}")
            if ok:
                return code
            reset = new_error == error
            if reset:  # the fix changed nothing: start the conversation afresh, with another seed
                previous, error, reflection = None, None, None
                continue
            previous, error = code or previous, new_error
            contract = (new_error or "").startswith(("ContractError", "StageCodeError")) or code is None
            # no next try to use a reflection: the last one, or the share is spent
            last = i == first_try + self.config.stage_tries - 1 or (deadline is not None and deadline.passed())
            reflection = None if contract or last or previous is None else self.reflect(ctx, previous, new_error or "")
        return None
