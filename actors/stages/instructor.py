"""Stage 2, instructor: the top-3 ranked high-level solution instructions for one competition."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, Field

from actors.context import TaskContext
from actors.errors import LLMResponseError
from actors.llm.base import LLM, ChatRequest
from actors.batch import BatchStage
from actors.templates import render

logger = logging.getLogger(__name__)
PARTS = ("preprocessing", "model", "training", "submission")
# Length bounds are enforced by the grammar: 12 parts x 180 chars stay well inside max_tokens, so a
# reply can never be cut off mid-JSON (a 0.5B model otherwise writes until the budget runs out, and
# every token costs ~25 ms on 2 cores).
_PART_SCHEMA = {"type": "string", "minLength": 10, "maxLength": 180}
INSTRUCTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {p: _PART_SCHEMA for p in PARTS},
    "required": list(PARTS),
    "additionalProperties": False,
}
INSTRUCTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"instructions": {"type": "array", "minItems": 3, "maxItems": 3, "items": INSTRUCTION_SCHEMA}},
    "required": ["instructions"],
    "additionalProperties": False,
}


class InstructorConfig(BaseModel):
    max_tokens: int = Field(1200, description="Completion budget for the three instructions (JSON).")
    few_shot: bool = Field(True, description="Show one worked exchange for a made-up task first: the 0.5B base "
                           "model otherwise echoes the prompt's wording instead of naming columns and models.")
    temperature: float = Field(0.3, description="Some diversity helps the three instructions differ.")
    seed: int = Field(0, description="Sampling seed, for reproducible runs.")


@dataclass(frozen=True)
class Instruction:
    rank: int
    preprocessing: str
    model: str
    training: str
    submission: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def messages_for(name: str, ctx: TaskContext, **extra: object) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": render("system")},
        {"role": "user", "content": render(name, **ctx.prompt_vars(), **extra)},
    ]


def example_instructions(kind: str) -> list[dict[str, str]]:
    """Three good instructions for the made-up house task of actors.stages.coder.example_context(kind)."""
    est = "regressor" if kind == "value" else "classifier"
    out = {"value": "predicted price values", "label": "the predicted house_type label",
           "proba": "the predicted probability of sold (predict_proba)"}[kind]
    return [
        {"preprocessing": "fill missing rooms with the median, one-hot encode city, split built into year and "
                          "month, replace notes by its length",
         "model": f"LightGBM {est} with 400 trees, learning_rate 0.05 and num_leaves 31",
         "training": "fit on all training rows with random_state fixed",
         "submission": f"for every row of test.csv, write {out}"},
        {"preprocessing": "fill missing rooms with the median, integer-code city, take the year of built, drop notes",
         "model": f"random forest {est} with 300 trees and min_samples_leaf 2",
         "training": "fit on all training rows",
         "submission": f"for every row of test.csv, write {out}"},
        {"preprocessing": "fill missing rooms with the median, one-hot encode city, date parts of built, length "
                          "of notes",
         "model": f"extra-trees {est} with 500 trees",
         "training": "fit on all training rows",
         "submission": f"for every row of test.csv, write {out}"},
    ]


def example_exchange(kind: str) -> list[dict[str, str]]:
    from actors.stages.coder import example_context  # the same made-up task as the coder's few-shot turn

    example = example_context(kind)
    return [{"role": "user", "content": render("instructor", **example.prompt_vars())},
            {"role": "assistant", "content": json.dumps({"instructions": example_instructions(kind)})}]


def parse_json(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMResponseError(
            f"{what}: the model's reply is not valid JSON ({exc}); reply starts {text[:120]!r}") from exc
    if not isinstance(data, dict):
        raise LLMResponseError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def instruction_from(data: dict[str, Any], rank: int) -> Instruction:
    return Instruction(rank=rank, **{p: str(data.get(p, "")).strip() for p in PARTS})


class Instructor(BatchStage):
    def __init__(self, llm: LLM, config: InstructorConfig | None = None) -> None:
        self.llm = llm
        self.config = config or InstructorConfig()

    def run(self, ctx: TaskContext) -> list[Instruction]:
        cfg = self.config
        messages = messages_for("instructor", ctx)
        if cfg.few_shot:
            messages = [messages[0], *example_exchange(ctx.kind), messages[1]]
        reply = self.llm.chat(ChatRequest(messages=messages, max_tokens=cfg.max_tokens,
                                          temperature=cfg.temperature, seed=cfg.seed,
                                          json_schema=INSTRUCTIONS_SCHEMA))
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
