"""Extraction: scored solution code -> the high-level instruction it follows, as a training pair.

The LLM reads one solution's code and describes it in the instructor's four parts (preprocessing,
model, training, submission), under the same JSON schema the instructor is held to
(actors/stages/instructor.py, INSTRUCTION_SCHEMA), so extracted instructions have the shape and length of
the ones the pipeline generates. The training pair is then:
- prompt: the task framed as the instructor frames it (actors/prompts/task.j2: title, description,
  metric and direction, task type, data type, data facts) asking for the instruction of rank r;
- completion: JSON {"rank": r, "preprocessing": ..., "model": ..., "training": ..., "submission": ...},
  i.e. one item of the instructor's {"instructions": [...]} reply with its rank made explicit.

Code that does not fit the context is shortened (see `compact_code`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from actors.corpus import missing
from actors.errors import LLMResponseError, StageError
from actors.stages.instruction import INSTRUCTION_SCHEMA, PARTS, instruction_from, parse_json
from actors.llm.base import LLM, ChatRequest, LLMConfig
from actors.llm.build import build_llm
from actors.batch import BatchStage
from actors.templates import render

logger = logging.getLogger(__name__)
# Columns the Extractor adds to every row (None where the row failed and `error` says why).
OUTPUT_COLUMNS = ("prompt", "completion", "code_chars", "code_truncated", "extractor_model", "prompt_tokens",
                  "completion_tokens", "seconds_llm", "error")

# linguacodus's own solutions embed the fixed harness (actors/harness/fragments/harness.py); it is the same in
# every solution and says nothing about the approach, so it is replaced by one line before anything else.
_HARNESS_START = "# ---- linguacodus harness"
_STAGES_START = "# ---- stage: "
_HARNESS_NOTE = ("# [linguacodus harness omitted: it loads train.csv/test.csv, encodes the target, cross-validates, "
                 "predicts on test.csv and writes submission.csv in the metric's format]\n")


class ExtractorConfig(BaseModel):
    max_tokens: int = Field(512, ge=64, description="Completion budget; the schema caps each part at 220 chars, "
                                                    "so a reply always fits.")
    temperature: float = Field(0.0, ge=0, description="Extraction describes, it does not invent: greedy.")
    seed: int = Field(0, description="Sampling seed, for reproducible extraction.")
    max_code_chars: int = Field(
        12000, ge=500, description="Code longer than this is shortened (see compact_code). 12000 chars is "
        "~4000 tokens of Python at ~3 chars/token: with the prompt and reply it fits an 8192-token context.")
    head_fraction: float = Field(
        1 / 3, gt=0, lt=1, description="Share of max_code_chars kept from the start of long code (imports, "
        "loading, preprocessing); the rest is kept from the end (model, training, submission).")
    description_chars: int = Field(1500, ge=100, description="Task description shown to the extractor.")
    prompt_description_chars: int = Field(
        3000, ge=100, description="Task description in the pair's prompt (the instructor's limit, actors/context.py).")


@dataclass(frozen=True)
class CompactCode:
    text: str
    original_chars: int
    truncated: bool  # lines were cut (not just the harness, blank lines and comments)
    note: str | None  # said to the extractor when the code was shortened


def compact_code(code: str, max_chars: int, head_fraction: float = 1 / 3) -> CompactCode:
    """Code shortened to at most ~max_chars, in three steps, each only if still too long:
    1. linguacodus's fixed harness block is replaced by one comment line (always);
    2. blank lines and comment-only lines are dropped;
    3. the middle is cut: the first head_fraction of the budget and the rest from the end are kept,
       both snapped to whole lines, with a marker line saying how much was cut."""
    original = len(code)
    text = _drop_harness(code)
    if len(text) <= max_chars:
        return CompactCode(text, original, False, None)
    text = "\n".join(ln for ln in text.splitlines()
                     if ln.strip() and (not ln.lstrip().startswith("#") or ln == _HARNESS_NOTE.strip())) + "\n"
    if len(text) <= max_chars:
        return CompactCode(text, original, False, "(Blank lines and comments were removed to fit.)")
    head_budget = int(max_chars * head_fraction)
    head = text[:head_budget]
    head = head[: head.rfind("\n") + 1] or head  # whole lines, unless one line is longer than the budget
    tail = text[len(text) - (max_chars - len(head)):]
    tail = tail[tail.find("\n") + 1:] if "\n" in tail[:-1] else tail
    cut = text[len(head): len(text) - len(tail)]
    marker = f"# ... [{cut.count(chr(10))} lines ({len(cut)} chars) cut here to fit the context] ...\n"
    note = (f"(The code was {original} characters long; its middle was cut to fit, blank lines and comments "
            "were removed.)")
    return CompactCode(head + marker + tail, original, True, note)


def _drop_harness(code: str) -> str:
    start = code.find(_HARNESS_START)
    end = code.find(_STAGES_START, start + 1) if start >= 0 else -1
    if start < 0 or end < 0:
        return code
    return code[:start] + _HARNESS_NOTE + "\n" + code[end:]


def _text(value: Any, default: str = "") -> str:
    return default if missing(value) else str(value)


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[... description truncated ...]"


def task_vars(row: dict[str, Any], description_chars: int) -> dict[str, Any]:
    """The task.j2 variables a corpus row can give; absent optional ones render as nothing."""
    return {
        "title": _text(row.get("title"), _text(row.get("competition_id"))),
        "description": _trim(_text(row.get("description")).strip(), description_chars),
        "metric": _text(row.get("metric")),
        "higher_is_better": bool(row.get("higher_is_better")),
        "task_type": _text(row.get("task_type")),
        "data_type": _text(row.get("data_type")),
        "facts": _text(row.get("facts")).strip(),
    }


def extraction_messages(row: dict[str, Any], code: CompactCode, cfg: ExtractorConfig) -> list[dict[str, str]]:
    user = render("extract", **task_vars(row, cfg.description_chars), code=code.text.rstrip(), code_note=code.note)
    return [{"role": "system", "content": render("system")}, {"role": "user", "content": user}]


def pair_prompt(row: dict[str, Any], rank: int, cfg: ExtractorConfig) -> str:
    return render("pair_prompt", **task_vars(row, cfg.prompt_description_chars), rank=rank)


class Extractor(BatchStage):
    """Callable class for Ray Data: one corpus row (with its `rank`) -> prompt/completion columns.
    A row whose extraction fails gets an `error` (BatchStage) and the batch goes on."""

    def __init__(self, llm: LLM | None = None, config: ExtractorConfig | None = None,
                 llm_config: dict[str, Any] | None = None) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.config = config or ExtractorConfig()
        self.llm = llm if llm is not None else build_llm(LLMConfig(**(llm_config or {})))

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config
        rank = int(row["rank"])
        code = compact_code(_text(row.get("code")), cfg.max_code_chars, cfg.head_fraction)
        if not code.text.strip():
            raise StageError("extractor: the solution has no code")  # validated corpora never get here
        reply = self.llm.chat(ChatRequest(messages=extraction_messages(row, code, cfg), max_tokens=cfg.max_tokens,
                                          temperature=cfg.temperature, seed=cfg.seed,
                                          json_schema=INSTRUCTION_SCHEMA, tag="extract"))
        data = parse_json(reply.text, "extractor")
        empty = [p for p in PARTS if not isinstance(data.get(p), str) or not data[p].strip()]
        if empty:
            raise LLMResponseError(f"extractor: the reply has no text for {', '.join(empty)} "
                                   f"(finish_reason {reply.finish_reason}); reply starts {reply.text[:120]!r}")
        instruction = instruction_from(data, rank)
        logger.info("%s extracted %s (rank %d, %d code chars%s)", row.get("competition_id"), row.get("solution_id"),
                    rank, code.original_chars, ", truncated" if code.truncated else "")
        return {
            "prompt": pair_prompt(row, rank, cfg),
            "completion": json.dumps(instruction.to_dict(), ensure_ascii=False),
            "code_chars": code.original_chars,
            "code_truncated": code.truncated,
            "extractor_model": reply.model,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "seconds_llm": reply.seconds,
        }

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        # Every batch gets every output column (None on failed rows), so Ray Data's blocks share a schema.
        out = super().__call__(batch)
        n = len(out["error"]) if "error" in out else 0
        for col in OUTPUT_COLUMNS:
            out.setdefault(col, [None] * n)
        return out

