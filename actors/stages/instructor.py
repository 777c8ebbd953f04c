"""Stage 2, instructor: the top-3 ranked high-level solution instructions for one competition."""
from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel, Field

from actors.batch import BatchStage
from actors.context import TaskContext
from actors.errors import LLMResponseError
from actors.llm.base import LLM, ChatRequest
from actors.stages.examples import example_exchange
from actors.stages.instruction import INSTRUCTIONS_SCHEMA, Instruction, instruction_from, messages_for, parse_json

logger = logging.getLogger(__name__)


class InstructorConfig(BaseModel):
    max_tokens: int = Field(1200, description="Completion budget for the three instructions (JSON).")
    few_shot: bool = Field(True, description="Show one worked exchange for a made-up task first: the 0.5B base "
                           "model otherwise echoes the prompt's wording instead of naming columns and models.")
    temperature: float = Field(0.3, description="Some diversity helps the three instructions differ.")
    seed: int = Field(0, description="Sampling seed, for reproducible runs.")


class Instructor(BatchStage):
    def __init__(self, llm: LLM, config: InstructorConfig | None = None) -> None:
        self.llm = llm
        self.config = config or InstructorConfig()

    def run(self, ctx: TaskContext, time_limit_s: float | None = None) -> list[Instruction]:
        """`time_limit_s`: past it the call is stopped (LLMTimeoutError), e.g. the LLM path's budget share."""
        cfg = self.config
        messages = messages_for("instructor", ctx)
        if cfg.few_shot:
            messages = [messages[0], *example_exchange(ctx.kind), messages[1]]
        reply = self.llm.chat(ChatRequest(messages=messages, max_tokens=cfg.max_tokens,
                                          temperature=cfg.temperature, seed=cfg.seed,
                                          json_schema=INSTRUCTIONS_SCHEMA, tag="instructor",
                                          time_limit_s=time_limit_s))
        items = parse_json(reply.text, "instructor").get("instructions") or []
        if len(items) < 1:
            raise LLMResponseError("instructor: the reply holds no instruction")
        ranked = [instruction_from(item, rank) for rank, item in enumerate(items[:3], start=1)]
        logger.info("%s instructor: %d instructions", ctx.competition.competition_id, len(ranked))
        return ranked

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        from actors.facts import facts_from_dict
        from actors.task import Competition

        ctx = TaskContext(Competition(**json.loads(row["competition"])), facts_from_dict(json.loads(row["facts"])))
        return {"instructions": json.dumps([i.to_dict() for i in self.run(ctx)])}
