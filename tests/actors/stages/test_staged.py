"""write_stages with a scripted LLM and the real sandbox checks: past the LLM path's deadline, no further
stage is asked for, and the error names the stage it stopped before."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from actors.deadline import Deadline
from actors.journal import Journal
from actors.llm.base import ChatRequest
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from actors.stages.coder import Coder, CoderConfig
from actors.stages.instruction import instruction_from
from actors.stages.staged import write_stages
from jobs.inputs import stage_inputs
from tests.helpers.fakes import ScriptedLLM
from tests.helpers.open_tasks import context
from tests.helpers.scripted import CODE_STYLES, GOOD, PLAN, stage_of

pytestmark = pytest.mark.sandbox


def _write_past_deadline(tmp_path: Path, answer: Callable[[str], str]) -> tuple[list[str | None], Any, str | None]:
    """write_stages with a 90 s share that runs out during the first model call (each call outlasts it)."""
    ctx = context("penguins")
    deadline = Deadline(time.monotonic() + 0.5, 90.0)
    asked: list[str | None] = []

    def reply(req: ChatRequest) -> str:
        asked.append(stage_of(req))
        time.sleep(max(0.0, deadline.at - time.monotonic()) + 0.05)
        return "```python\n" + answer(stage_of(req) or "preprocess") + "\n```"

    coder = Coder(ScriptedLLM(reply), Sandbox(SandboxConfig(timeout_s=60)), CoderConfig(styles=CODE_STYLES))
    staged, error = write_stages(coder, ctx, instruction_from(PLAN, rank=1), stage_inputs(ctx.competition, tmp_path),
                                 Journal(), seed=0, deadline=deadline)
    return asked, staged, error


def test_no_stage_is_asked_for_once_the_deadline_has_passed(tmp_path: Path):
    asked, staged, error = _write_past_deadline(tmp_path, lambda stage: GOOD[stage])
    assert asked == ["preprocess"] and list(staged.passed) == ["preprocess"]  # written and checked, then no more
    assert error == "out of its budget share (90 s) before stage model"


def test_a_failing_stage_gets_no_further_try_once_the_deadline_has_passed(tmp_path: Path):
    broken = "def preprocess(train, test):\n    raise RuntimeError('broken')"
    asked, staged, error = _write_past_deadline(tmp_path, lambda stage: broken)
    # one try (no reflection, no second or third try), its code kept for the fix loop; then no next stage
    assert asked == ["preprocess"] and not staged.passed and "broken" in staged.stages["preprocess"]
    assert error == "out of its budget share (90 s) before stage model"
