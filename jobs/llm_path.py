"""The LLM path of one competition (jobs/solve.py step 2-5): three ranked instructions, critic and
resolver, code in stages each checked on real data, then the execution and its fix loop; or, in vanilla
mode, one script and its fix loop. With the search on it runs against a deadline, its share of the
competition's budget (actors/deadline.py): past it (checked between steps, never before the
instructions, which are the search's first trials) the path stops and keeps what it has.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from actors.context import TaskContext
from actors.deadline import Deadline
from actors.executor import Execution
from actors.fixloop import Runner, fix_loop
from actors.stages.instruction import Instruction
from actors.stages.staged import write_stages
from actors.stages.vanilla import VanillaScript

logger = logging.getLogger(__name__)
REFINEMENT_CALLS = 1.5  # the refinement's expected cost in instructor calls (two calls, shorter completions)
# The three plan stages and the staged solution's run, in instructor calls. The stages alone took
# 0.7-1.65 calls (median 1.3) over stop 19's 7 bench runs that wrote all three; in stop 20's 300 s
# bench (2 loaded cores, one engine thread) 1.6 and 2.1 where all three were written (plus a 9 s run)
# and over 1.7 and 2.2 where the share ended after two. A step the share cuts serves nothing, one not
# started leaves its time to the search, so the estimate is taken high. Refinement only feeds the
# stages (the search's warm starts are the instructor's own instructions), so it starts only when
# the stages can follow it in the share.
STAGE_CALLS = 2.0


@dataclass(frozen=True)
class LLMPath:
    """What the LLM path left for the search: its successful execution (or why there is none), the ranked
    instructions (warm starts), the stages of that execution, and its journal id."""

    execution: Execution | None = None
    error: str | None = None
    instructions: list[Instruction] = field(default_factory=list)
    stages: dict[str, str] | None = None
    parent: int | None = None
    out_of_share: bool = False  # stopped for its budget share: no further model call (space proposal) either


def llm_path(ctx: TaskContext, s: Any, runner: Runner, deadline: Deadline | None) -> LLMPath:
    """`s` is the competition's CompetitionSolver (its config, progress, instructor, refiner and coder)."""
    config, cid = s.config, ctx.competition.competition_id
    if config.mode == "vanilla":
        s.progress.step(cid, "vanilla script")
        outcome = fix_loop(VanillaScript(s.coder, ctx), runner, config.executor.max_fix, label="vanilla")
        return LLMPath(outcome.execution, None if outcome.ok else f"LLM path: {outcome.error}")
    s.progress.step(cid, "instructions")
    started = time.monotonic()
    # 2. three ranked instructions, within the share: on a loaded host a call ran 7-8 min of a 300 s budget
    candidates = s.instructor.run(ctx, time_limit_s=deadline.left() if deadline is not None else None)
    call_s = time.monotonic() - started  # one model call of this size, on this machine, now: the yardstick
    # a call under way is never cut, so a step that cannot end within the share is not started: it would
    # eat the search's time. Critic + resolver took 1.0-2.0x the instructor's call (bench/quality.py runs).
    # Measured at 300 s on 2 loaded cores (stop 18): refinement ran and the share ended before the first
    # stage on 6 of 7 tasks, ~100 s each that served nothing
    why = _no_time(deadline, "after the instructions", "refinement and stages",
                   (REFINEMENT_CALLS + STAGE_CALLS) * call_s)
    if why:
        runner.artifacts.instructions({"candidates": [c.to_dict() for c in candidates]})
        return _stopped(cid, why, candidates)
    s.progress.step(cid, "refinement")
    refinement = s.refiner.run(ctx, candidates)  # 3. critic and resolver
    runner.artifacts.instructions(refinement.to_dict())
    why = _no_time(deadline, "after refinement", "stages", STAGE_CALLS * call_s)
    if why:
        return _stopped(cid, why, candidates)
    s.progress.step(cid, "stages")
    staged, error = write_stages(s.coder, ctx, refinement.refined, runner.inputs, runner.journal,  # 4. stages
                                 config.seed, deadline)
    for stage, code in staged.stages.items():
        runner.artifacts.stage(stage, code)
    if error is not None:
        return LLMPath(error=f"LLM path: {error}", instructions=list(candidates))
    if deadline is not None and deadline.passed():
        return _stopped(cid, deadline.why("after the stages"), candidates)
    s.progress.step(cid, "fix loop")
    outcome = fix_loop(staged, runner, config.executor.max_fix, deadline=deadline)  # 5. execution and fix loop
    last = runner.journal.last("execution")
    return LLMPath(outcome.execution, None if outcome.ok else f"LLM path: {outcome.error}", list(candidates),
                   dict(staged.stages), last.id if last else None)


def _no_time(deadline: Deadline | None, where: str, step: str, expected_s: float) -> str | None:
    """Why the path stops `where` (its share is spent, or `step` would not end within it), or None."""
    if deadline is None:
        return None
    if deadline.passed():
        return deadline.why(where)
    if not deadline.fits(expected_s):
        return deadline.why(f"{where}: {step} (~{expected_s:.0f} s) would not end in the {deadline.left():.0f} s left")
    return None


def _stopped(cid: str, why: str, candidates: list[Instruction]) -> LLMPath:
    logger.info("%s LLM path: %s; the search takes over", cid, why)
    return LLMPath(error=f"LLM path: {why}", instructions=list(candidates), out_of_share=True)
