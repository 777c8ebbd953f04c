"""Stage 3, refiner (multi-agent): a critic lists the logical errors of each instruction against the
task; a resolver picks the best and repairs it. The critique, the choice and the reasons are kept."""
from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from actors.context import TaskContext
from actors.stages.instruction import INSTRUCTION_SCHEMA, Instruction, instruction_from, messages_for, parse_json
from actors.llm.base import LLM, ChatRequest
from actors.batch import BatchStage

logger = logging.getLogger(__name__)
_ERRORS = {"type": "array", "maxItems": 3, "items": {"type": "string", "minLength": 2, "maxLength": 140}}
CRITIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"critiques": {"type": "array", "minItems": 3, "maxItems": 3, "items": {
        "type": "object", "properties": {"errors": _ERRORS}, "required": ["errors"], "additionalProperties": False}}},
    "required": ["critiques"],
    "additionalProperties": False,
}
RESOLVER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "best": {"type": "integer", "minimum": 1, "maximum": 3},
        "reasons": {"type": "string", "minLength": 5, "maxLength": 240},
        "refined": INSTRUCTION_SCHEMA,
    },
    "required": ["best", "reasons", "refined"],
    "additionalProperties": False,
}


class RefinerConfig(BaseModel):
    max_tokens_critic: int = Field(700, description="Completion budget for the critique of all three.")
    max_tokens_resolver: int = Field(700, description="Completion budget for choice, reasons, refined plan.")
    temperature: float = Field(0.1, description="Judging wants little randomness.")
    seed: int = Field(0, description="Sampling seed.")


@dataclass(frozen=True)
class Refinement:
    critiques: list[list[str]]
    best: int
    reasons: str
    refined: Instruction
    candidates: list[Instruction] = field(default_factory=list)
    repair_rejected: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"candidates": [c.to_dict() for c in self.candidates], "critiques": self.critiques,
                "best": self.best, "reasons": self.reasons, "refined": self.refined.to_dict(),
                "repair_rejected": self.repair_rejected}


_META = re.compile(r"\b(critic|instruction [123]|the instruction)\b", re.IGNORECASE)


def degenerate(ins: Instruction) -> str | None:
    """Why a resolver's repaired instruction is not an instruction, or None. Measured with the 0.5B
    model: all four parts one copy of the critique ("The instruction 3 does not fill ... The critic
    found that ..."), or parts that talk about the instructions instead of the task."""
    parts = [ins.preprocessing, ins.model, ins.training, ins.submission]
    if len({p.strip().lower() for p in parts}) == 1:
        return "all four parts are the same text"
    meta = [name for name, p in zip(("preprocessing", "model", "training", "submission"), parts, strict=True)
            if _META.search(p)]
    if len(meta) >= 2:
        return f"{', '.join(meta)} talk about the critique, not the task"
    return None


class Refiner(BatchStage):
    def __init__(self, llm: LLM, config: RefinerConfig | None = None) -> None:
        self.llm = llm
        self.config = config or RefinerConfig()

    def critique(self, ctx: TaskContext, candidates: list[Instruction]) -> list[list[str]]:
        cfg = self.config
        reply = self.llm.chat(ChatRequest(
            messages=messages_for("critic", ctx, instructions=candidates), max_tokens=cfg.max_tokens_critic,
            temperature=cfg.temperature, seed=cfg.seed, json_schema=CRITIC_SCHEMA, tag="critic"))
        items = parse_json(reply.text, "critic").get("critiques") or []
        critiques = [[str(e) for e in (item.get("errors") or [])] for item in items]
        return (critiques + [[] for _ in candidates])[: len(candidates)]

    def run(self, ctx: TaskContext, candidates: list[Instruction]) -> Refinement:
        cfg = self.config
        critiques = self.critique(ctx, candidates)
        shown = ["; ".join(c) if c else "none" for c in critiques]
        reply = self.llm.chat(ChatRequest(
            messages=messages_for("resolver", ctx, instructions=candidates, critiques=shown),
            max_tokens=cfg.max_tokens_resolver, temperature=cfg.temperature, seed=cfg.seed,
            json_schema=RESOLVER_SCHEMA, tag="resolver"))
        data = parse_json(reply.text, "resolver")
        best = min(max(int(data.get("best", 1)), 1), len(candidates))
        refined = instruction_from(data.get("refined") or candidates[best - 1].to_dict(), rank=best)
        rejected = degenerate(refined)
        if rejected:  # keep the pick, drop a repair that is not an instruction
            refined = dataclasses.replace(candidates[best - 1], rank=best)
        logger.info("%s refiner: picked %d of %d%s", ctx.competition.competition_id, best, len(candidates),
                    f" (repair rejected: {rejected})" if rejected else "")
        return Refinement(critiques=critiques, best=best, reasons=str(data.get("reasons", "")),
                          refined=refined, candidates=list(candidates), repair_rejected=rejected)

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        from actors.facts import facts_from_dict
        from actors.task import Competition

        ctx = TaskContext(Competition(**json.loads(row["competition"])), facts_from_dict(json.loads(row["facts"])))
        candidates = [Instruction(**i) for i in json.loads(row["instructions"])]
        return {"refinement": json.dumps(self.run(ctx, candidates).to_dict())}
