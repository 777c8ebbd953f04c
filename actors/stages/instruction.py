"""The instruction record every LLM stage shares: its four parts, the JSON schema that constrains a
reply to them, and the parsing of such a reply. A leaf: the instructor, the refiner, the coder, the
few-shot examples and the corpus extractor all import it, and it imports none of them."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from actors.context import TaskContext
from actors.errors import LLMResponseError
from actors.templates import render

PARTS = ("preprocessing", "model", "training", "submission")
# Length bounds are enforced by the grammar: 12 parts x 180 chars stay well inside max_tokens, so a
# reply can never be cut off mid-JSON (a 0.5B model otherwise writes until the budget runs out, and
# every token costs ~25 ms on 2 cores).
_PART_SCHEMA = {"type": "string", "minLength": 10, "maxLength": 240}  # room for rendered pairs (train/pairs.py)
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
